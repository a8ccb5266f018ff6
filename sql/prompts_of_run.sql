-- The prompts to generate for: all but those the test-suite check excluded.
SELECT p.prompt_id, p.text
FROM prompts AS p
LEFT JOIN prompt_checks AS c USING (run_id, prompt_id)
WHERE p.run_id = ? AND coalesce(c.status, 'ok') = 'ok'
ORDER BY p.source, p.source_row;
