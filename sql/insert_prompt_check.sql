INSERT INTO prompt_checks (run_id, prompt_id, status, reason)
VALUES (?, ?, ?, ?)
ON CONFLICT DO NOTHING;
