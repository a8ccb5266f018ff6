-- One row per sample slot; a retry replaces the failed attempt it retries.
INSERT INTO generations (
    run_id, sample_id, prompt_id, mode, sample_index, attempts, status, error, text, spans,
    teacher_tokens, student_tokens, n_switches, teacher_seconds, student_seconds, seconds
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id, sample_id) DO UPDATE SET
    attempts = excluded.attempts,
    status = excluded.status,
    error = excluded.error,
    text = excluded.text,
    spans = excluded.spans,
    teacher_tokens = excluded.teacher_tokens,
    student_tokens = excluded.student_tokens,
    n_switches = excluded.n_switches,
    teacher_seconds = excluded.teacher_seconds,
    student_seconds = excluded.student_seconds,
    seconds = excluded.seconds;
