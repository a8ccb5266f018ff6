-- The settled prompts of a run, and its rows quarantined as their duplicates.
SELECT
    (SELECT count(*) FROM prompts WHERE run_id = $run_id) AS prompts,
    (SELECT count(*) FROM quarantine WHERE run_id = $run_id AND kind = 'duplicate') AS duplicates;
