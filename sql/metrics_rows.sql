-- The generated rows of a run to measure, with their prompt, and the NLL stored for each
-- row measured before (kept: the student's forward passes are the costly part).
SELECT
    g.sample_id,
    g.prompt_id,
    g.mode,
    p.text AS prompt,
    g.text,
    g.teacher_tokens,
    g.student_tokens,
    g.n_switches,
    m.student_nll,
    m.nll_skipped,
    m.sample_id IS NOT NULL AS measured
FROM generations AS g
JOIN prompts AS p ON p.run_id = g.run_id AND p.prompt_id = g.prompt_id
LEFT JOIN sample_metrics AS m ON m.run_id = g.run_id AND m.sample_id = g.sample_id
WHERE g.run_id = $run_id AND g.status = 'ok' AND g.text IS NOT NULL
ORDER BY g.sample_id;
