-- The positions of the ids of `near_dup_batch` (a registered Arrow table: id, position) that
-- the index does not hold yet for this corpus and run, in the batch's order.
SELECT b.position
FROM near_dup_batch AS b
ANTI JOIN near_dup_rows AS r
    ON r.repo_id = $repo_id AND r.field = $field AND r.sketch = $sketch
    AND r.run_id = $run_id AND r.row_id = b.id
ORDER BY b.position;
