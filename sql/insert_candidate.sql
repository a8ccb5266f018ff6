-- Add a batch of normalised source rows (the Arrow table registered as `candidate_batch`) to a
-- run. Rows already stored by an earlier attempt of the run stay as they are: loading resumes.
INSERT OR IGNORE INTO prompt_candidates
    (run_id, source, source_row, position, location, prompt_id, text, tests, reference,
     license, raw)
SELECT
    ?, source, source_row, position, location, prompt_id, text, tests, reference, license, raw
FROM candidate_batch;
