-- Windows of a run and role by annotation status, and the commonest rejection reasons.
SELECT coalesce(status, 'pending') AS status, count(*) FROM predictor_windows
WHERE run_id = ? AND role = ? GROUP BY ALL ORDER BY status;
