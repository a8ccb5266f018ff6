-- A run's drop ledger in the counts its run-level gates read (curation.gates), one row:
--   near_duplicates: rows the near-duplicate pass dropped;
--   near_duplicate_checked: rows it checked, those kept after the exact-duplicate and
--     contamination passes (the rows kept now, plus those it dropped);
--   near_duplicate_rate: near_duplicates / near_duplicate_checked, 0 when it checked none;
--   contaminated_rows: rows found overlapping an evaluation set, dropped or flagged.
SELECT
    count(*) FILTER (reason = 'near-duplicate') AS near_duplicates,
    count(*) FILTER (reason = 'near-duplicate' OR kept) AS near_duplicate_checked,
    coalesce(near_duplicates / nullif(near_duplicate_checked, 0), 0.0) AS near_duplicate_rate,
    count(*) FILTER (reason = 'contaminated' OR flag = 'contaminated') AS contaminated_rows
FROM curation
WHERE run_id = $run_id;
