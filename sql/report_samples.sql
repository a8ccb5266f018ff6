-- The sample browser of the HTML report: the generated samples of a run, the kept ones first,
-- with prompt, verdict, curation outcome and the provenance spans of the trace.
SELECT
    g.sample_id,
    g.mode,
    p.text AS prompt,
    coalesce(v.verdict, 'unverified') AS verdict,
    coalesce(c.reason, 'not curated') AS outcome,
    c.flag,
    g.text,
    g.spans,
    g.teacher_tokens,
    g.student_tokens,
    g.n_switches
FROM generations AS g
LEFT JOIN prompts AS p ON p.run_id = g.run_id AND p.prompt_id = g.prompt_id
LEFT JOIN verdicts AS v ON v.run_id = g.run_id AND v.sample_id = g.sample_id
LEFT JOIN curation AS c ON c.run_id = g.run_id AND c.sample_id = g.sample_id
WHERE g.run_id = $run_id AND g.status = 'ok'
ORDER BY coalesce(c.kept, false) DESC, g.mode, g.sample_id
LIMIT $limit;
