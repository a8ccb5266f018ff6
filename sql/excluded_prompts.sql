-- Prompts the test-suite check excluded or could not check, with where they came from and why.
-- Where: as the reasons of quarantined rows say it ("line 8"); rows stored before locations
-- were recorded give their 0-based row.
SELECT c.status, p.source, coalesce(p.location, 'row ' || p.source_row), c.reason
FROM prompt_checks AS c
JOIN prompts AS p USING (run_id, prompt_id)
WHERE c.run_id = ? AND c.status IN ('excluded', 'unchecked')
ORDER BY c.status, p.source, p.source_row;
