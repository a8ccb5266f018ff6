-- The dataset versions whose rows the corpus holds, under its sketch.
SELECT DISTINCT version
FROM near_dup_rows
WHERE repo_id = $repo_id AND field = $field AND sketch = $sketch AND version IS NOT NULL
ORDER BY version;
