INSERT INTO generations (
    run_id, sample_id, prompt_id, mode, sample_index, status, error, text, spans,
    teacher_tokens, student_tokens, n_switches, seconds
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING;
