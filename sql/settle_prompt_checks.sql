-- A settled prompt's test check is its row's (none when the check is off); a re-check of the
-- row of an unchecked prompt updates it.
INSERT INTO prompt_checks (run_id, prompt_id, status, reason)
SELECT p.run_id, p.prompt_id, c.status, c.reason
FROM prompts AS p
JOIN prompt_candidates AS c
    ON c.run_id = p.run_id AND c.source = p.source AND c.source_row = p.source_row
WHERE p.run_id = $run_id AND c.status IS NOT NULL
ON CONFLICT (run_id, prompt_id) DO UPDATE SET status = excluded.status, reason = excluded.reason;
