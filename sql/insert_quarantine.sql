-- Add a batch of rejected source rows (the Arrow table registered as `quarantine_batch`).
-- Rows already stored by an earlier attempt of the run stay as they are: loading resumes.
INSERT OR IGNORE INTO quarantine (run_id, source, source_row, location, kind, reason, raw)
SELECT ?, source, source_row, location, kind, reason, raw
FROM quarantine_batch;
