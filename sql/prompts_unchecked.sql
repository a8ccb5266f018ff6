-- Prompts of a run whose tests were not checked yet.
SELECT p.prompt_id, p.tests, p.reference
FROM prompts AS p
LEFT JOIN prompt_checks AS c USING (run_id, prompt_id)
WHERE p.run_id = ? AND c.prompt_id IS NULL
ORDER BY p.source, p.source_row;
