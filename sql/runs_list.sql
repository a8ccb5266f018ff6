SELECT run_id, status, started_at, version FROM runs ORDER BY started_at DESC;
