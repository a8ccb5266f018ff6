-- The drop ledger of a run in counts: rows dropped as duplicates or contaminated, and rows
-- published with a contamination flag, per text checked and benchmark.
SELECT
    CASE WHEN kept THEN 'flagged ' || flag ELSE reason END AS outcome,
    field,
    coalesce(split_part(detail, ':', 1), '') AS benchmark,
    count(*) AS n
FROM curation
WHERE run_id = $run_id
    AND (reason IN ('exact-duplicate', 'near-duplicate', 'contaminated') OR flag IS NOT NULL)
GROUP BY ALL
ORDER BY outcome, field, benchmark;
