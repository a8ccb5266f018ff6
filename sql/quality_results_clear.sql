DELETE FROM quality_results WHERE run_id = ?;
