-- Drop the band keys of a published run's rows that it did not publish.
DELETE FROM near_dup_bands
WHERE row_key IN (
    SELECT row_key FROM near_dup_rows
    WHERE repo_id = $repo_id AND run_id = $run_id AND version IS NULL
);
