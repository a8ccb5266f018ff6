-- Index a batch of rows (`near_dup_hashed`: row_key, id, signature) under a corpus and run.
INSERT INTO near_dup_rows (row_key, repo_id, field, sketch, run_id, row_id, version, signature)
SELECT row_key, $repo_id, $field, $sketch, $run_id, id, $version, signature
FROM near_dup_hashed;
