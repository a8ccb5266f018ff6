INSERT INTO verdicts (run_id, sample_id, verdict, tests_passed, tests_total, detail, seconds)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING;
