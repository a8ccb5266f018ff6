-- Every column, picked by name: a home opened read-only keeps the schema of the tessy that
-- last wrote it, so columns added since (the owner_*) may be missing.
SELECT * FROM runs ORDER BY started_at DESC;
