-- Prompts the test-suite check excluded, with where they came from and why.
SELECT p.source, p.source_row, c.reason
FROM prompt_checks AS c
JOIN prompts AS p USING (run_id, prompt_id)
WHERE c.run_id = ? AND c.status = 'excluded'
ORDER BY p.source, p.source_row;
