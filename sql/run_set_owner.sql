UPDATE runs SET owner_pid = $2, owner_host = $3, owner_started = $4 WHERE run_id = $1;
