-- The windows whose annotation was kept, with their style spans, in order.
SELECT text, spans FROM predictor_windows
WHERE run_id = ? AND role = ? AND status = 'ok'
ORDER BY window_id;
