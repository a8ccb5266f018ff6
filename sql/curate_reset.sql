-- Forget one run's curation decisions, so curating again redoes them from scratch.
DELETE FROM curation WHERE run_id = $run_id;
