-- Add a batch of normalised prompts (the Arrow table registered as `prompt_batch`) to a run.
-- Prompts already stored by an earlier attempt of the run stay as they are: loading resumes.
INSERT OR IGNORE INTO prompts
    (run_id, prompt_id, text, tests, reference, source, source_row, location, license)
SELECT ?, prompt_id, text, tests, reference, source, source_row, location, license
FROM prompt_batch;
