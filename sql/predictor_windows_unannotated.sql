-- Windows of a run and role the annotator has not answered yet.
SELECT window_id, text FROM predictor_windows
WHERE run_id = ? AND role = ? AND status IS NULL
ORDER BY window_id;
