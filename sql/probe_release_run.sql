-- The build that published a version of a dataset, when this factory did.
SELECT run_id FROM releases WHERE repo_id = $repo_id AND version = $version;
