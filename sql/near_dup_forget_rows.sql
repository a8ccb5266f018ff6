-- Drop the rows a published run did not publish (after their band keys).
DELETE FROM near_dup_rows
WHERE repo_id = $repo_id AND run_id = $run_id AND version IS NULL;
