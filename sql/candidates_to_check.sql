-- The candidate rows of a run whose tests are still to check, in load order: never checked,
-- or unchecked because the judge failed last time. Left out: rows already settled as
-- duplicates, and rows of a prompt_id one of whose rows passed (that row is its prompt).
SELECT c.source, c.source_row, c.location, c.prompt_id, c.tests, c.reference
FROM prompt_candidates AS c
WHERE
    c.run_id = $run_id
    AND coalesce(c.status, 'unchecked') = 'unchecked'
    AND NOT EXISTS (
        SELECT * FROM quarantine AS q
        WHERE q.run_id = c.run_id AND q.source = c.source AND q.source_row = c.source_row
    )
    AND NOT EXISTS (
        SELECT * FROM prompt_candidates AS o
        WHERE o.run_id = c.run_id AND o.prompt_id = c.prompt_id AND o.status = 'ok'
    )
ORDER BY c.position;
