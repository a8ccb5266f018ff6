SELECT repo_id, version, location, commit_sha, n_rows FROM releases WHERE run_id = ?;
