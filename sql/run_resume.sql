-- A resumed run keeps its data config; the runtime keys it was resumed with replace the old.
UPDATE runs
SET status = 'running', error = NULL, finished_at = NULL, config = $2, config_hash = $3,
    sources = coalesce(sources, $4)
WHERE run_id = $1;
