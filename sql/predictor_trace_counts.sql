-- Trace slots of a run and role by status.
SELECT status, count(*) FROM predictor_traces WHERE run_id = ? AND role = ? GROUP BY status;
