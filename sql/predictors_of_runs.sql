-- The registered predictors of each run, the teacher's first: a later run that registers
-- the same name takes it over, so a run holds only the names no later run took.
SELECT run_id, string_agg(name, ' ' ORDER BY role DESC) AS names
FROM predictors
GROUP BY run_id;
