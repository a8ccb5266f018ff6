INSERT INTO releases (run_id, repo_id, version, location, commit_sha, n_rows, created_at, lost)
VALUES (?, ?, ?, ?, ?, ?, ?, ?);
