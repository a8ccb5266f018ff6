INSERT INTO quality_results (run_id, position, description, expectation, column_name, success, observed)
VALUES (?, ?, ?, ?, ?, ?, ?);
