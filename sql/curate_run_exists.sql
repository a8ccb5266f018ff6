-- Whether a run is recorded, so curating an unknown run id fails instead of doing nothing.
SELECT EXISTS (SELECT 1 FROM runs WHERE run_id = $run_id);
