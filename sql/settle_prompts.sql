-- Settle each prompt_id of a run on one of its candidate rows, stored as the prompt: the
-- earliest in load order among those whose tests passed the check; else among those not
-- checked (the check is off); else among those the judge failed to check (a re-run checks
-- it again); else among the excluded. A prompt_id settled before keeps its row.
INSERT OR IGNORE INTO prompts
    (run_id, prompt_id, text, tests, reference, source, source_row, location, license)
SELECT run_id, prompt_id, text, tests, reference, source, source_row, location, license
FROM prompt_candidates
WHERE run_id = $run_id
QUALIFY row_number() OVER (
    PARTITION BY prompt_id
    ORDER BY
        CASE status WHEN 'ok' THEN 0 WHEN 'unchecked' THEN 2 WHEN 'excluded' THEN 3 ELSE 1 END,
        position
) = 1;
