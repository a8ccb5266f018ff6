-- One keep/drop decision per generation of a run, with the reason, in the order checked:
-- a prompt whose tests the check excluded, or could not check (unless $include_unchecked),
-- a failed generation, no verdict, a verdict other than accepted (when required), an exact
-- duplicate of a keepable sample with a smaller sample_id (the row it matched), else kept.
-- Contaminated rows and near-duplicates are dropped after this, among the kept rows
-- (tessy_factory/curate/ledger.py).
-- Exact means the same prompt and the same md5 of the text lower-cased, with whitespace runs
-- collapsed, trimmed: one answer to two different prompts is two distinct SFT rows.
INSERT INTO curation (run_id, sample_id, kept, reason, matched_id, matched_run)
WITH judged AS (
    SELECT
        g.sample_id,
        CASE
            WHEN c.status = 'excluded' THEN 'prompt-excluded'
            WHEN c.status = 'unchecked' AND NOT $include_unchecked THEN 'prompt-unchecked'
            WHEN g.status <> 'ok' THEN 'generation-failed'
            WHEN v.sample_id IS NULL THEN 'not-verified'
            WHEN $require_accepted AND v.verdict <> 'accepted' THEN 'not-accepted'
        END AS dropped_for,
        md5(g.prompt_id || ':' || trim(regexp_replace(lower(g.text), '\s+', ' ', 'g')))
            AS text_hash
    FROM generations AS g
    LEFT JOIN verdicts AS v ON v.run_id = g.run_id AND v.sample_id = g.sample_id
    LEFT JOIN prompt_checks AS c ON c.run_id = g.run_id AND c.prompt_id = g.prompt_id
    WHERE g.run_id = $run_id
),
twinned AS (
    SELECT
        sample_id,
        dropped_for,
        -- Only keepable samples compete: a dropped sample never makes a keepable one a copy.
        min(sample_id) FILTER (WHERE dropped_for IS NULL)
            OVER (PARTITION BY text_hash) AS first_keepable
    FROM judged
),
decided AS (
    SELECT
        sample_id,
        first_keepable,
        coalesce(
            dropped_for,
            CASE WHEN sample_id = first_keepable THEN 'kept' ELSE 'exact-duplicate' END
        ) AS reason
    FROM twinned
)
SELECT
    $run_id,
    sample_id,
    reason = 'kept',
    reason,
    CASE WHEN reason = 'exact-duplicate' THEN first_keepable END,
    CASE WHEN reason = 'exact-duplicate' THEN $run_id END
FROM decided;
