-- The drop funnel of a run: how many rows each stage received or let through.
WITH
    -- Every source row once: a row is a prompt candidate or quarantined at load, and after
    -- settling its candidate is a prompt or quarantined as a duplicate.
    prompt_rows AS (
        SELECT count(*) AS n
        FROM (
            SELECT source, source_row FROM prompt_candidates WHERE run_id = $run_id
            UNION
            SELECT source, source_row FROM prompts WHERE run_id = $run_id
            UNION
            SELECT source, source_row FROM quarantine WHERE run_id = $run_id
        )
    ),
    quarantine_rows AS (SELECT count(*) AS n FROM quarantine WHERE run_id = $run_id),
    check_rows AS (
        SELECT
            count(*) FILTER (WHERE status = 'excluded') AS excluded,
            count(*) FILTER (WHERE status = 'unchecked') AS unchecked
        FROM prompt_checks
        WHERE run_id = $run_id
    ),
    generation_rows AS (
        SELECT
            count(*) FILTER (WHERE status = 'ok') AS ok,
            count(*) FILTER (WHERE status <> 'ok') AS failed
        FROM generations
        WHERE run_id = $run_id
    ),
    verdict_rows AS (
        SELECT count(*) FILTER (WHERE verdict = 'accepted') AS accepted
        FROM verdicts
        WHERE run_id = $run_id
    ),
    curation_rows AS (
        SELECT
            count(*) FILTER (WHERE reason = 'exact-duplicate') AS exact_duplicates,
            count(*) FILTER (WHERE reason = 'contaminated') AS contaminated,
            count(*) FILTER (WHERE reason = 'near-duplicate') AS near_duplicates,
            count(*) FILTER (WHERE kept) AS kept
        FROM curation
        WHERE run_id = $run_id
    ),
    release_rows AS (
        SELECT coalesce(sum(n_rows), 0)::BIGINT AS n FROM releases WHERE run_id = $run_id
    )
SELECT
    prompt_rows.n AS prompts_in,
    quarantine_rows.n AS quarantined,
    check_rows.excluded AS tests_excluded,
    check_rows.unchecked AS tests_unchecked,
    generation_rows.ok AS generated,
    generation_rows.failed AS failed,
    verdict_rows.accepted AS verified,
    curation_rows.exact_duplicates,
    curation_rows.contaminated,
    curation_rows.near_duplicates,
    curation_rows.kept AS kept,
    release_rows.n AS published
FROM prompt_rows, quarantine_rows, check_rows, generation_rows, verdict_rows, curation_rows, release_rows;
