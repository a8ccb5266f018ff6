-- Prompts of a run whose tests are still to check: never checked, or unchecked because the
-- judge failed last time.
SELECT p.prompt_id, p.tests, p.reference
FROM prompts AS p
LEFT JOIN prompt_checks AS c USING (run_id, prompt_id)
WHERE p.run_id = ? AND coalesce(c.status, 'unchecked') = 'unchecked'
ORDER BY p.source, p.source_row;
