UPDATE runs SET models = ? WHERE run_id = ?;
