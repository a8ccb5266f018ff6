SELECT prompt_id, text FROM prompts WHERE run_id = ? ORDER BY source, source_row;
