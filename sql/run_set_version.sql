UPDATE runs SET version = ? WHERE run_id = ?;
