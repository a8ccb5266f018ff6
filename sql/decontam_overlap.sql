-- Rows that share n-grams with an evaluation item: a batch of rows' n-gram hashes
-- (`decontam_rows`: hash, position, field) joined with every item's (`decontam_eval`: hash,
-- item). Per row and field, the item sharing the most distinct n-grams (the first on a tie).
SELECT r.position, r.field, e.item, count(DISTINCT r.hash) AS overlap
FROM decontam_rows AS r
JOIN decontam_eval AS e USING (hash)
GROUP BY r.position, r.field, e.item
QUALIFY row_number() OVER (PARTITION BY r.position, r.field ORDER BY overlap DESC, e.item) = 1
ORDER BY r.position, r.field;
