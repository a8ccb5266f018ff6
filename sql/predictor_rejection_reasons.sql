-- Why annotator answers were rejected, most frequent first (reasons cut at their first colon).
SELECT split_part(reason, ':', 1) AS reason, count(*) AS windows FROM predictor_windows
WHERE run_id = ? AND role = ? AND status = 'rejected'
GROUP BY ALL ORDER BY windows DESC, reason;
