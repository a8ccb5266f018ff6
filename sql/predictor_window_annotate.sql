UPDATE predictor_windows SET status = ?, spans = ?, reason = ?, answer = ?
WHERE run_id = ? AND role = ? AND window_id = ?;
