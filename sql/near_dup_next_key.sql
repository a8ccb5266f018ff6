-- The first free row key of the near-duplicate index.
SELECT coalesce(max(row_key), 0) + 1 FROM near_dup_rows;
