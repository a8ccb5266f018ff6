-- A dry run ends without publishing. A run released earlier keeps its status: a dry-run
-- resume of it published nothing, and its release stands.
UPDATE runs SET status = 'dry-run', error = NULL, finished_at = $2
WHERE run_id = $1 AND version IS NULL;
