-- Write drop-ledger entries (`ledger_entries`, a registered Arrow table) into a run's
-- curation rows: the decision, the reason and what the row matched. A flag stays.
UPDATE curation AS c
SET
    kept = l.kept,
    reason = l.reason,
    matched_id = l.matched_id,
    matched_run = l.matched_run,
    matched_version = l.matched_version,
    similarity = l.similarity,
    overlap = l.overlap,
    field = l.field,
    detail = l.detail,
    flag = coalesce(l.flag, c.flag)
FROM ledger_entries AS l
WHERE c.run_id = $run_id AND c.sample_id = l.sample_id;
