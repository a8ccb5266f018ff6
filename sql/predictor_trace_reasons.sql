-- Why a run's traces of a role are not usable, most frequent first (cut at their first colon).
SELECT split_part(reason, ':', 1) AS reason, count(*) AS traces FROM predictor_traces
WHERE run_id = ? AND role = ? AND status <> 'ok'
GROUP BY ALL ORDER BY traces DESC, reason;
