UPDATE runs SET status = $2, error = $3, finished_at = $4 WHERE run_id = $1;
