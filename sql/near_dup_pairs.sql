-- Near-duplicate pairs of a run's candidate rows (`near_dup_batch`: id), with each other and
-- with every published row of the corpus (all versions, other runs): pairs that share an LSH
-- band key (the band join), kept when their estimated Jaccard similarity, the share of
-- signature values that agree, reaches $threshold. Each pair comes once, a candidate first.
WITH pool AS (
    SELECT
        r.row_key,
        r.row_id,
        r.run_id,
        r.version,
        r.signature,
        r.run_id = $run_id AS candidate
    FROM near_dup_rows AS r
    LEFT JOIN near_dup_batch AS b ON r.run_id = $run_id AND b.id = r.row_id
    WHERE r.repo_id = $repo_id AND r.field = $field AND r.sketch = $sketch
        AND r.signature IS NOT NULL
        AND (b.id IS NOT NULL OR (r.version IS NOT NULL AND r.run_id <> $run_id))
),
banded AS (
    SELECT k.row_key, k.band, k.key, p.candidate
    FROM near_dup_bands AS k
    JOIN pool AS p USING (row_key)
),
colliding AS (
    SELECT DISTINCT a.row_key AS a, b.row_key AS b
    FROM banded AS a
    JOIN banded AS b ON a.band = b.band AND a.key = b.key
    WHERE a.candidate AND (NOT b.candidate OR a.row_key < b.row_key)
),
scored AS (
    SELECT
        c.a,
        c.b,
        len(list_filter(list_zip(pa.signature, pb.signature), lambda v: v[1] = v[2]))
            / len(pa.signature) AS similarity,
        pa.row_id AS a_row_id,
        pb.row_id AS b_row_id,
        pb.run_id AS b_run_id,
        pb.version AS b_version,
        pb.candidate AS b_candidate
    FROM colliding AS c
    JOIN pool AS pa ON pa.row_key = c.a
    JOIN pool AS pb ON pb.row_key = c.b
)
SELECT a, b, similarity, a_row_id, b_row_id, b_run_id, b_version, b_candidate
FROM scored
WHERE similarity >= $threshold
ORDER BY a, b;
