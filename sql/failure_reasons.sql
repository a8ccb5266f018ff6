-- Why a run's samples failed: the most common reasons, each with its count of samples, and
-- how many distinct reasons there are in all.
SELECT error, count(*) AS samples, count(*) OVER () AS reasons
FROM generations
WHERE run_id = $run_id AND status <> 'ok'
GROUP BY error
ORDER BY samples DESC, error
LIMIT $limit;
