-- The near-duplicate index (tessy_factory/curate/near_dup): MinHash signatures and LSH band
-- keys of rows, per dataset, text (prompt or response) and sketch (the settings that made the
-- signature; only equal sketches compare). A run's rows have no version until the run
-- publishes them; the published rows of every version are what later builds are checked
-- against. A row a run did not publish is forgotten when it publishes.
CREATE TABLE IF NOT EXISTS near_dup_rows (
    row_key       BIGINT NOT NULL,           -- surrogate key: band joins compare integers
    repo_id       VARCHAR NOT NULL,
    field         VARCHAR NOT NULL,          -- prompt | response
    sketch        VARCHAR NOT NULL,
    run_id        VARCHAR NOT NULL,
    row_id        VARCHAR NOT NULL,          -- the published row's id (a sample_id)
    version       VARCHAR,                   -- the dataset version that published the row
    signature     UINTEGER[],                -- NULL: too short for one shingle, never compared
    PRIMARY KEY (repo_id, field, sketch, run_id, row_id)
);

CREATE TABLE IF NOT EXISTS near_dup_bands (
    row_key       BIGINT NOT NULL,
    band          USMALLINT NOT NULL,
    key           UBIGINT NOT NULL
);
