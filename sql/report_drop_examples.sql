-- The reasons a run dropped or flagged rows, the most common first, each with its count and
-- up to $examples example rows (in sample order) with their prompt and what they matched.
WITH dropped AS (
    SELECT
        CASE WHEN c.kept THEN 'flagged ' || c.flag ELSE c.reason END AS reason,
        c.sample_id,
        g.mode,
        p.text AS prompt,
        c.field,
        coalesce(c.matched_id, c.twin_id) AS matched_id,
        c.matched_version,
        c.similarity,
        c.overlap,
        c.detail,
        count(*) OVER (PARTITION BY reason) AS n,
        row_number() OVER (PARTITION BY reason ORDER BY c.sample_id) AS example
    FROM curation AS c
    JOIN generations AS g ON g.run_id = c.run_id AND g.sample_id = c.sample_id
    LEFT JOIN prompts AS p ON p.run_id = g.run_id AND p.prompt_id = g.prompt_id
    WHERE c.run_id = $run_id AND (NOT c.kept OR c.flag IS NOT NULL)
)
SELECT reason, n, sample_id, mode, prompt, field, matched_id, matched_version, similarity,
    overlap, detail
FROM dropped
WHERE example <= $examples
ORDER BY n DESC, reason, example;
