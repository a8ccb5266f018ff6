SELECT config_hash, status, config, sources, owner_pid, owner_host, owner_started
FROM runs WHERE run_id = ?;
