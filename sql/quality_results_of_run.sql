SELECT description, expectation, column_name, success, observed
FROM quality_results
WHERE run_id = ?
ORDER BY position;
