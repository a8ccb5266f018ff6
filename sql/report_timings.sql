-- Where a run's time went: its start and end, and the seconds its samples spent generating
-- (in the teacher, in the student) and being judged.
SELECT
    r.started_at,
    r.finished_at,
    (SELECT sum(seconds) FROM generations WHERE run_id = $run_id) AS generation_s,
    (SELECT sum(teacher_seconds) FROM generations WHERE run_id = $run_id) AS teacher_s,
    (SELECT sum(student_seconds) FROM generations WHERE run_id = $run_id) AS student_s,
    (SELECT sum(seconds) FROM verdicts WHERE run_id = $run_id) AS verification_s
FROM runs AS r
WHERE r.run_id = $run_id;
