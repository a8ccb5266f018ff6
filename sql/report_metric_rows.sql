-- The style metrics of each measured row of a run, with its mode and whether it is kept:
-- the distributions of the HTML report.
SELECT
    g.mode,
    coalesce(c.kept, false) AS kept,
    m.tfidf_to_student,
    m.student_nll,
    m.phrase_per_1k_tokens,
    m.teacher_token_share,
    m.n_switches,
    m.thinking_tokens,
    m.answer_tokens
FROM sample_metrics AS m
JOIN generations AS g ON g.run_id = m.run_id AND g.sample_id = m.sample_id
LEFT JOIN curation AS c ON c.run_id = m.run_id AND c.sample_id = m.sample_id
WHERE m.run_id = $run_id
ORDER BY g.mode, m.sample_id;
