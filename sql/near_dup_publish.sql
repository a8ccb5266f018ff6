-- Mark a run's published rows (`near_dup_kept`: id) with their dataset version, in every
-- text and sketch of the dataset: from now on later builds are checked against them.
UPDATE near_dup_rows AS r
SET version = $version
FROM near_dup_kept AS k
WHERE r.repo_id = $repo_id AND r.run_id = $run_id AND r.row_id = k.id;
