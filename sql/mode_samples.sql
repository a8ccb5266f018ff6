SELECT g.mode, g.status, v.verdict, g.text, g.teacher_tokens, g.student_tokens, g.n_switches, g.seconds
FROM generations AS g
LEFT JOIN verdicts AS v USING (run_id, sample_id)
WHERE g.run_id = ?
ORDER BY g.mode, g.sample_id;
