SELECT config_hash, status, config, sources FROM runs WHERE run_id = ?;
