-- Store measured rows (the registered DataFrame `measured_rows`), replacing earlier ones.
INSERT OR REPLACE INTO sample_metrics BY NAME
SELECT $run_id AS run_id, * FROM measured_rows;
