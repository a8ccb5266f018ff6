-- The modes a probe (config hash) already finished on a version: a re-run skips them.
SELECT mode
FROM probe_results
WHERE repo_id = $repo_id AND version = $version AND probe_hash = $probe_hash AND status = 'done';
