-- The probe table of a dataset: per version and mode, the latest probe's outcome (of one
-- version when $version is set), versions oldest first, the untrained student first.
SELECT version, mode, status, reason, probe_name, train_rows, problems, samples, accepted,
       pass_at, phrase_per_1k_tokens, student_nll, epoch_loss, train_seconds, eval_seconds
FROM probe_results
WHERE repo_id = $repo_id AND ($version IS NULL OR version = $version)
QUALIFY row_number() OVER (PARTITION BY version, mode ORDER BY finished_at DESC) = 1
ORDER BY version, mode <> 'untrained', mode;
