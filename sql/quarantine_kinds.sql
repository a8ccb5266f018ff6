-- How many of a run's source rows were quarantined for each kind of reason, most first; rows
-- stored before kinds were recorded count as 'other'.
SELECT coalesce(kind, 'other') AS kind, count(*) AS n
FROM quarantine
WHERE run_id = ?
GROUP BY ALL
ORDER BY n DESC, kind;
