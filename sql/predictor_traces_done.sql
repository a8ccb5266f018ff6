-- Trace slots of a run and role already written (a re-run skips them).
SELECT trace_id FROM predictor_traces WHERE run_id = ? AND role = ? AND status <> 'failed';
