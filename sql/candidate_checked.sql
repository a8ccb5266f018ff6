-- The outcome of a candidate row's test check; a re-check replaces an earlier `unchecked`.
UPDATE prompt_candidates
SET status = ?, reason = ?
WHERE run_id = ? AND source = ? AND source_row = ?;
