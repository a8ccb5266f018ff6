-- The published rows of a run: one per kept sample, SFT-ready (a user turn with the prompt,
-- an assistant turn with the generated text) and self-describing (provenance and judging).
WITH kept AS (
    SELECT
        g.sample_id,
        g.prompt_id,
        g.mode,
        g.text,
        g.n_switches,
        coalesce(g.teacher_tokens, 0) AS teacher_tokens,
        coalesce(g.teacher_tokens, 0) + coalesce(g.student_tokens, 0) AS n_tokens
    FROM curation AS c
    JOIN generations AS g ON g.run_id = c.run_id AND g.sample_id = c.sample_id
    WHERE c.run_id = $run_id AND c.kept
)
SELECT
    k.sample_id AS id,
    [
        {'role': 'user', 'content': p.text},
        {'role': 'assistant', 'content': k.text}
    ] AS messages,
    k.prompt_id,
    p.source,
    p.license,
    k.mode,
    r.config ->> '$.teacher.model' AS teacher_model,
    r.config ->> '$.student.model' AS student_model,
    CASE WHEN k.n_tokens = 0 THEN 0.0 ELSE k.teacher_tokens / k.n_tokens END
        AS teacher_token_share,
    k.n_switches,
    k.n_tokens,
    v.verdict,
    v.tests_passed,
    v.tests_total,
    r.run_id
FROM kept AS k
JOIN prompts AS p ON p.run_id = $run_id AND p.prompt_id = k.prompt_id
JOIN verdicts AS v ON v.run_id = $run_id AND v.sample_id = k.sample_id
JOIN runs AS r ON r.run_id = $run_id
ORDER BY id;
