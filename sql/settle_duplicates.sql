-- Quarantine each candidate row of a run that its prompt_id was not settled on, as a duplicate
-- of the row it was, with its own test check when that failed. The reason opens with the row's
-- location, as those of rows quarantined at load do.
INSERT INTO quarantine (run_id, source, source_row, location, kind, reason, raw)
SELECT
    c.run_id,
    c.source,
    c.source_row,
    c.location,
    'duplicate',
    c.location || ': duplicate of ' || p.source || ' ' || p.location || ' (same prompt_id)'
        || CASE
            WHEN c.status IN ('excluded', 'unchecked')
                THEN '; its own tests were ' || c.status || ': ' || c.reason
            ELSE ''
        END,
    c.raw
FROM prompt_candidates AS c
JOIN prompts AS p ON p.run_id = c.run_id AND p.prompt_id = c.prompt_id
WHERE
    c.run_id = $run_id
    AND NOT (c.source = p.source AND c.source_row = p.source_row)
    AND NOT EXISTS (
        SELECT * FROM quarantine AS q
        WHERE q.run_id = c.run_id AND q.source = c.source AND q.source_row = c.source_row
    );
