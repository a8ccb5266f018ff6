SELECT models FROM runs WHERE run_id = ?;
