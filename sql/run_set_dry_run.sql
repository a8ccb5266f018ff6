-- A dry run ends without publishing. A run released earlier stays completed: the resume
-- that ran dry (run_resume.sql marked it running) published nothing, and its release stands.
UPDATE runs
SET status = CASE WHEN version IS NULL THEN 'dry-run' ELSE 'completed' END,
    error = NULL,
    finished_at = $2
WHERE run_id = $1;
