SELECT config FROM runs WHERE run_id = ?;
