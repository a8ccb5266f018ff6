-- A drawn window; drawing again after a crash inserts nothing new.
INSERT INTO predictor_windows (run_id, role, window_id, trace_id, start, text)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING;
