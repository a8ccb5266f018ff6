SELECT g.sample_id, g.text, p.tests
FROM generations AS g
JOIN prompts AS p USING (run_id, prompt_id)
LEFT JOIN verdicts AS v USING (run_id, sample_id)
WHERE g.run_id = ? AND g.status = 'ok' AND v.sample_id IS NULL
ORDER BY g.sample_id;
