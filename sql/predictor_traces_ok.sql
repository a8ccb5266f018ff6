-- The usable traces of a run and role, in slot order.
SELECT trace_id, text FROM predictor_traces
WHERE run_id = ? AND role = ? AND status = 'ok'
ORDER BY trace_id;
