SELECT name, role, path, base_model, annotator, metrics, run_id, created_at
FROM predictors ORDER BY name;
