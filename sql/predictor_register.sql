-- Register a trained predictor by name; registering a name again points it at the new one.
INSERT INTO predictors (name, role, path, base_model, annotator, metrics, run_id, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET
    role = excluded.role, path = excluded.path, base_model = excluded.base_model,
    annotator = excluded.annotator, metrics = excluded.metrics, run_id = excluded.run_id,
    created_at = excluded.created_at;
