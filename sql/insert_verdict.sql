INSERT INTO verdicts (
    run_id, sample_id, verdict, tests_passed, tests_total, detail, seconds,
    first_failing_case, cases
)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING;
