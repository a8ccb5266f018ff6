-- The prompts to generate for: those whose tests passed the check (or were not checked, with
-- the check off), and those the judge failed to check when $include_unchecked.
SELECT p.prompt_id, p.text
FROM prompts AS p
LEFT JOIN prompt_checks AS c USING (run_id, prompt_id)
WHERE
    p.run_id = $run_id
    AND (coalesce(c.status, 'ok') = 'ok' OR (c.status = 'unchecked' AND $include_unchecked))
ORDER BY p.source, p.source_row;
