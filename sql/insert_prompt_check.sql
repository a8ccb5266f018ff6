-- The outcome of a prompt's test check; a re-check replaces an earlier `unchecked`.
INSERT INTO prompt_checks (run_id, prompt_id, status, reason)
VALUES (?, ?, ?, ?)
ON CONFLICT (run_id, prompt_id) DO UPDATE SET status = excluded.status, reason = excluded.reason;
