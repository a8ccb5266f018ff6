SELECT sample_id FROM generations WHERE run_id = ?;
