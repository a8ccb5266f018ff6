-- The build that published a version of a dataset, when this factory did, and where.
SELECT run_id, location FROM releases WHERE repo_id = $repo_id AND version = $version;
