-- The rows of a run that curation keeps so far, with what contamination and near-duplicate
-- checks read: the prompt's text, the generated text, the mode and the verdict.
SELECT c.sample_id, g.prompt_id, g.mode, v.verdict, p.text AS prompt, g.text
FROM curation AS c
JOIN generations AS g ON g.run_id = c.run_id AND g.sample_id = c.sample_id
JOIN prompts AS p ON p.run_id = c.run_id AND p.prompt_id = g.prompt_id
LEFT JOIN verdicts AS v ON v.run_id = c.run_id AND v.sample_id = c.sample_id
WHERE c.run_id = $run_id AND c.kept
ORDER BY c.sample_id;
