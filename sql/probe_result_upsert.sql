-- Store (or replace) one mode's outcome of a probe.
INSERT OR REPLACE INTO probe_results VALUES (
    $repo_id, $version, $probe_hash, $mode, $status, $reason, $probe_name, $student_model,
    $train_rows, $rows_too_long, $problems, $samples, $generated, $accepted, $pass_at,
    $phrase_per_1k_tokens, $student_nll, $train_loss, $epoch_loss, $train_seconds,
    $eval_seconds, $checkpoint, $config, now()
);
