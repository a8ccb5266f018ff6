-- The first $limit quarantined rows of a run, in source order: where each is and why.
SELECT source, location, reason
FROM quarantine
WHERE run_id = $run_id
ORDER BY source, source_row
LIMIT $limit;
