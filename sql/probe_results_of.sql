-- The probe table of a dataset: the rows of one probe (config hash) of a version when
-- $probe_hash is set; else per version the whole latest probe (the one whose last row is
-- newest), never one probe's row of a mode beside another probe's of the next. One version's
-- when $version is set. Versions oldest first by date and number (-10 after -9), the
-- untrained student first.
WITH probes AS (
    SELECT version, probe_hash
    FROM probe_results
    WHERE repo_id = $repo_id AND ($version IS NULL OR version = $version)
      AND ($probe_hash IS NULL OR probe_hash = $probe_hash)
    GROUP BY version, probe_hash
    QUALIFY row_number() OVER (
        PARTITION BY version ORDER BY max(finished_at) DESC, probe_hash
    ) = 1
)
SELECT version, mode, status, reason, probe_name, train_rows, problems, samples, accepted,
       pass_at, phrase_per_1k_tokens, student_nll, epoch_loss, train_seconds, eval_seconds
FROM probe_results JOIN probes USING (version, probe_hash)
WHERE repo_id = $repo_id
ORDER BY regexp_extract(version, '^(.*)-[0-9]+$', 1),
         TRY_CAST(regexp_extract(version, '-([0-9]+)$', 1) AS INTEGER),
         version, mode <> 'untrained', mode;
