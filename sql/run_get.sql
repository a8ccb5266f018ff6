SELECT config_hash, status FROM runs WHERE run_id = ?;
