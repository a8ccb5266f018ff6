-- The factory's tables. Every row is keyed by the build's run_id.
CREATE TABLE IF NOT EXISTS runs (
    run_id        VARCHAR PRIMARY KEY,
    name          VARCHAR NOT NULL,
    config        JSON NOT NULL,
    config_hash   VARCHAR NOT NULL,
    status        VARCHAR NOT NULL,          -- running | completed | dry-run | failed (see owner_*)
    error         VARCHAR,
    started_at    TIMESTAMP NOT NULL,
    finished_at   TIMESTAMP,
    version       VARCHAR                    -- the published dataset version, once pushed
);
-- Each model's revision, taken when the build first loaded its models (see revisions.py).
ALTER TABLE runs ADD COLUMN IF NOT EXISTS models JSON;
-- {source label: content hash} of the prompt sources, taken when the run first started.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS sources JSON;
-- The process building the run (pid, host, start time in seconds since the epoch): a
-- `running` run whose process is gone is shown as interrupted (see owner.py).
ALTER TABLE runs ADD COLUMN IF NOT EXISTS owner_pid INTEGER;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS owner_host VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS owner_started DOUBLE;

CREATE TABLE IF NOT EXISTS prompts (
    run_id        VARCHAR NOT NULL,
    prompt_id     VARCHAR NOT NULL,          -- hash of the normalised prompt text
    text          VARCHAR NOT NULL,
    tests         JSON NOT NULL,             -- {"style": "stdio"|"assert", "cases"|"code", ...}
    reference     VARCHAR,                   -- a reference solution, when the source has one
    source        VARCHAR NOT NULL,
    source_row    BIGINT NOT NULL,
    license       VARCHAR NOT NULL,
    PRIMARY KEY (run_id, prompt_id)
);
-- Where a row is in its source, for people ("line 8" of a JSONL file, "row 7" elsewhere), as
-- its quarantine reason would say it; NULL in rows stored before the column was added.
ALTER TABLE prompts ADD COLUMN IF NOT EXISTS location VARCHAR;

-- Every source row that normalised into a prompt, before duplicates are settled: rows with
-- the same text share a prompt_id but may differ in tests. The test check runs per row; then
-- each prompt_id is settled on one row, copied to `prompts`, and the others are quarantined
-- as duplicates (tessy_factory/sources/settle.py).
CREATE TABLE IF NOT EXISTS prompt_candidates (
    run_id        VARCHAR NOT NULL,
    source        VARCHAR NOT NULL,
    source_row    BIGINT NOT NULL,
    position      BIGINT NOT NULL,           -- load order: sources as configured, then rows
    location      VARCHAR NOT NULL,          -- as in prompts
    prompt_id     VARCHAR NOT NULL,
    text          VARCHAR NOT NULL,
    tests         JSON NOT NULL,
    reference     VARCHAR,
    license       VARCHAR NOT NULL,
    raw           VARCHAR,                   -- the row as read, for its quarantine record
    status        VARCHAR,                   -- its test check: ok | excluded | unchecked
    reason        VARCHAR,                   -- why excluded or unchecked
    PRIMARY KEY (run_id, source, source_row)
);

CREATE TABLE IF NOT EXISTS quarantine (
    run_id        VARCHAR NOT NULL,
    source        VARCHAR NOT NULL,
    source_row    BIGINT NOT NULL,
    reason        VARCHAR NOT NULL,
    raw           VARCHAR,
    PRIMARY KEY (run_id, source, source_row)
);
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS location VARCHAR; -- as in prompts
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS kind VARCHAR; -- not valid JSON | duplicate | ...

CREATE TABLE IF NOT EXISTS generations (
    run_id          VARCHAR NOT NULL,
    sample_id       VARCHAR NOT NULL,        -- hash of (prompt_id, mode, sample_index)
    prompt_id       VARCHAR NOT NULL,
    mode            VARCHAR NOT NULL,
    sample_index    INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 1, -- generation attempts so far (bounded)
    status          VARCHAR NOT NULL,        -- ok | failed
    error           VARCHAR,
    text            VARCHAR,                 -- <think>\n...\n</think>\n\nanswer
    spans           JSON,                    -- [{"author", "text", "tokens", "phase"}]
    teacher_tokens  INTEGER,
    student_tokens  INTEGER,
    n_switches      INTEGER,
    seconds         DOUBLE,                  -- wall time of the last attempt
    PRIMARY KEY (run_id, sample_id)
);

-- Columns added after the first release: a factory home from before gains them here.
ALTER TABLE generations ADD COLUMN IF NOT EXISTS teacher_seconds DOUBLE; -- in the teacher
ALTER TABLE generations ADD COLUMN IF NOT EXISTS student_seconds DOUBLE; -- in the student

CREATE TABLE IF NOT EXISTS verdicts (
    run_id        VARCHAR NOT NULL,
    sample_id     VARCHAR NOT NULL,
    verdict       VARCHAR NOT NULL,
    tests_passed  INTEGER NOT NULL,
    tests_total   INTEGER NOT NULL,
    detail        VARCHAR,
    seconds       DOUBLE,
    PRIMARY KEY (run_id, sample_id)
);

-- Columns added after the first release.
ALTER TABLE verdicts ADD COLUMN IF NOT EXISTS first_failing_case INTEGER; -- 1-based
ALTER TABLE verdicts ADD COLUMN IF NOT EXISTS cases JSON; -- [{case, verdict, wall_s, cpu_s, ...}]

-- Test-suite sanity: a prompt whose reference fails its tests, or whose tests accept an
-- empty program, is excluded before generation. One the judge failed on is unchecked: left
-- out unless the config includes it, and checked again by a re-run.
CREATE TABLE IF NOT EXISTS prompt_checks (
    run_id        VARCHAR NOT NULL,
    prompt_id     VARCHAR NOT NULL,
    status        VARCHAR NOT NULL,          -- ok | excluded | unchecked
    reason        VARCHAR,                   -- why it was excluded, or why it went unchecked
    PRIMARY KEY (run_id, prompt_id)
);

CREATE TABLE IF NOT EXISTS curation (
    run_id        VARCHAR NOT NULL,
    sample_id     VARCHAR NOT NULL,
    kept          BOOLEAN NOT NULL,
    reason        VARCHAR NOT NULL,          -- kept | not-accepted | duplicate | ...
    twin_id       VARCHAR,                   -- before matched_id: an exact duplicate's twin
    PRIMARY KEY (run_id, sample_id)
);
-- The drop ledger (sql/drop_ledger.sql lists a run's): what a dropped or flagged row matched.
ALTER TABLE curation ADD COLUMN IF NOT EXISTS matched_id VARCHAR; -- a sample_id or eval item id
ALTER TABLE curation ADD COLUMN IF NOT EXISTS matched_run VARCHAR; -- the matched sample's run
ALTER TABLE curation ADD COLUMN IF NOT EXISTS matched_version VARCHAR; -- its published version
ALTER TABLE curation ADD COLUMN IF NOT EXISTS similarity DOUBLE; -- near-duplicate: Jaccard est.
ALTER TABLE curation ADD COLUMN IF NOT EXISTS overlap INTEGER; -- contaminated: shared n-grams
ALTER TABLE curation ADD COLUMN IF NOT EXISTS field VARCHAR; -- prompt | response | solution
ALTER TABLE curation ADD COLUMN IF NOT EXISTS detail VARCHAR; -- contaminated: benchmark:item
ALTER TABLE curation ADD COLUMN IF NOT EXISTS flag VARCHAR; -- kept but flagged: contaminated

-- Style metrics of each generated row (tessy_factory/curate/metrics.py). The student NLL is
-- measured once per row and kept on re-runs; the rest is measured again each time.
CREATE TABLE IF NOT EXISTS sample_metrics (
    run_id               VARCHAR NOT NULL,
    sample_id            VARCHAR NOT NULL,
    tfidf_to_student     DOUBLE,            -- NULL: no other student-only sample of the prompt
    student_nll          DOUBLE,            -- mean per token of the assistant turn; NULL: see why
    nll_skipped          VARCHAR,           -- why student_nll is NULL
    phrase_per_1k_tokens DOUBLE,            -- style phrases per 1k thinking tokens
    teacher_token_share  DOUBLE,
    n_switches           INTEGER,
    thinking_tokens      INTEGER,           -- in the student's tokenizer
    answer_tokens        INTEGER,
    PRIMARY KEY (run_id, sample_id)
);

-- The quality gate's outcome per expectation (curate/quality.py Outcome), for the HTML report.
CREATE TABLE IF NOT EXISTS quality_results (
    run_id        VARCHAR NOT NULL,
    position      INTEGER NOT NULL,          -- the suite's order
    description   VARCHAR NOT NULL,          -- the check, in words
    expectation   VARCHAR NOT NULL,          -- the great-expectations expectation type
    column_name   VARCHAR NOT NULL,
    success       BOOLEAN NOT NULL,
    observed      VARCHAR NOT NULL,
    PRIMARY KEY (run_id, position)
);

CREATE TABLE IF NOT EXISTS releases (
    run_id        VARCHAR PRIMARY KEY,
    repo_id       VARCHAR NOT NULL,
    version       VARCHAR NOT NULL,
    location      VARCHAR NOT NULL,
    commit_sha    VARCHAR NOT NULL,
    n_rows        INTEGER NOT NULL,
    created_at    TIMESTAMP NOT NULL
);
-- The versions the target had lost when this release went out with --allow-rewrite.
ALTER TABLE releases ADD COLUMN IF NOT EXISTS lost VARCHAR[];

-- Boundary-predictor training runs (their row in `runs` holds the config).
CREATE TABLE IF NOT EXISTS predictor_traces (
    run_id        VARCHAR NOT NULL,
    role          VARCHAR NOT NULL,          -- teacher | student
    trace_id      INTEGER NOT NULL,          -- slot: prompt x sample, or line of the file
    status        VARCHAR NOT NULL,          -- ok | failed | empty
    reason        VARCHAR,
    text          VARCHAR,                   -- the thinking, without markers
    PRIMARY KEY (run_id, role, trace_id)
);

CREATE TABLE IF NOT EXISTS predictor_windows (
    run_id        VARCHAR NOT NULL,
    role          VARCHAR NOT NULL,
    window_id     INTEGER NOT NULL,
    trace_id      INTEGER NOT NULL,
    start         INTEGER NOT NULL,          -- character offset in the trace
    text          VARCHAR NOT NULL,
    status        VARCHAR,                   -- annotation: ok | rejected (NULL: not yet)
    spans         JSON,                      -- [[start, end], ...] of style text in `text`
    reason        VARCHAR,                   -- why the annotator's answer was rejected
    answer        VARCHAR,                   -- the annotator's answer, as given
    PRIMARY KEY (run_id, role, window_id)
);

CREATE TABLE IF NOT EXISTS predictors (
    name          VARCHAR PRIMARY KEY,       -- a build config's registered:<name>
    role          VARCHAR NOT NULL,
    path          VARCHAR NOT NULL,
    base_model    VARCHAR NOT NULL,
    annotator     VARCHAR NOT NULL,
    metrics       JSON NOT NULL,
    run_id        VARCHAR NOT NULL,
    created_at    TIMESTAMP NOT NULL
);

-- Downstream probes (tessy_factory/probe): per published version, probe config (its hash)
-- and mode (or `untrained`, the student before fine-tuning), how the student fine-tuned on
-- that mode's rows did on held-out problems. A re-run of a probe skips its `done` modes.
CREATE TABLE IF NOT EXISTS probe_results (
    repo_id              VARCHAR NOT NULL,
    version              VARCHAR NOT NULL,
    probe_hash           VARCHAR NOT NULL,   -- fingerprint of the probe config, dataset left out
    mode                 VARCHAR NOT NULL,   -- a generation mode, or untrained
    status               VARCHAR NOT NULL,   -- done | skipped
    reason               VARCHAR,            -- why skipped
    probe_name           VARCHAR NOT NULL,
    student_model        VARCHAR NOT NULL,
    train_rows           INTEGER,            -- rows fine-tuned on
    rows_too_long        INTEGER,            -- rows left out: over training.max_length
    problems             INTEGER,
    samples              INTEGER,
    generated            INTEGER,
    accepted             INTEGER,
    pass_at              JSON,               -- {"1": 0.41, "5": ...}
    phrase_per_1k_tokens DOUBLE,             -- mean over the generated answers' thinking
    student_nll          DOUBLE,             -- the untrained student's, per token, mean
    train_loss           JSON,               -- the loss of every step
    epoch_loss           JSON,               -- mean loss per epoch
    train_seconds        DOUBLE,
    eval_seconds         DOUBLE,
    checkpoint           VARCHAR,            -- kept fine-tuned student (keep_checkpoints)
    config               JSON NOT NULL,
    finished_at          TIMESTAMP NOT NULL,
    PRIMARY KEY (repo_id, version, probe_hash, mode)
);
