-- How many of a run's generations each curation reason covers.
SELECT reason, count(*) AS n
FROM curation
WHERE run_id = $run_id
GROUP BY reason
ORDER BY reason;
