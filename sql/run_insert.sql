INSERT INTO runs (run_id, name, config, config_hash, status, started_at, sources)
VALUES (?, ?, ?, ?, 'running', ?, ?);
