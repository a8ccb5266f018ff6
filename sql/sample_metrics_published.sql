-- The metrics of the rows a run publishes (kept), of one mode or, $mode NULL, of all.
SELECT g.mode, m.*
FROM sample_metrics AS m
JOIN curation AS c ON c.run_id = m.run_id AND c.sample_id = m.sample_id
JOIN generations AS g ON g.run_id = m.run_id AND g.sample_id = m.sample_id
WHERE m.run_id = $run_id AND c.kept AND ($mode IS NULL OR g.mode = $mode)
ORDER BY m.sample_id;
