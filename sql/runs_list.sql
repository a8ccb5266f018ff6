-- Every column, picked by name: a home opened read-only keeps the schema of the tessy that
-- last wrote it, so columns added since (the owner_*) may be missing. `kind` tells a build
-- from a predictor training run by its config: only a training config has `training`.
SELECT
    *,
    CASE WHEN json_exists(config, '$.training') THEN 'predictors' ELSE 'build' END AS kind
FROM runs
ORDER BY started_at DESC;
