SELECT sample_id, status, attempts FROM generations WHERE run_id = ?;
