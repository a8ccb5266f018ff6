-- One row per trace slot; a re-run replaces a failed attempt.
INSERT INTO predictor_traces (run_id, role, trace_id, status, reason, text)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id, role, trace_id) DO UPDATE SET
    status = excluded.status, reason = excluded.reason, text = excluded.text;
