-- The style metrics per version and mode: medians, and 10th/50th/90th percentiles of the
-- NLL and the lengths. Of one run ($run_id: its kept rows when $kept_only, else all its
-- measured rows; version NULL until it publishes), or, with $run_id NULL, of the published
-- rows of every version of dataset $repo_id, oldest first.
WITH measured AS (
    SELECT r.version, r.created_at, g.mode, m.*
    FROM sample_metrics AS m
    JOIN generations AS g ON g.run_id = m.run_id AND g.sample_id = m.sample_id
    LEFT JOIN curation AS c ON c.run_id = m.run_id AND c.sample_id = m.sample_id
    LEFT JOIN releases AS r ON r.run_id = m.run_id
    WHERE CASE
        WHEN $run_id IS NOT NULL THEN m.run_id = $run_id AND (coalesce(c.kept, false) OR NOT $kept_only)
        ELSE r.repo_id = $repo_id AND c.kept
    END
)
SELECT
    version,
    mode,
    count(*) AS rows,
    median(tfidf_to_student) AS tfidf_to_student,
    quantile_cont(student_nll, [0.1, 0.5, 0.9]) AS student_nll,
    median(phrase_per_1k_tokens) AS phrase_per_1k_tokens,
    median(teacher_token_share) AS teacher_token_share,
    median(n_switches) AS n_switches,
    quantile_cont(thinking_tokens, [0.1, 0.5, 0.9]) AS thinking_tokens,
    median(answer_tokens) AS answer_tokens
FROM measured
GROUP BY version, mode
ORDER BY min(created_at), version, mode;
