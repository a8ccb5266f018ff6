-- The verdict taxonomy of a run: how many generated samples of each mode got each verdict
-- (`unverified`: generated, with no verdict stored).
SELECT g.mode, coalesce(v.verdict, 'unverified') AS verdict, count(*) AS n
FROM generations AS g
LEFT JOIN verdicts AS v ON v.run_id = g.run_id AND v.sample_id = g.sample_id
WHERE g.run_id = $run_id AND g.status = 'ok'
GROUP BY ALL
ORDER BY verdict, g.mode;
