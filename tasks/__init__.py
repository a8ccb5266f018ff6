"""Prefect tasks: thin wrappers that give the core's stages logging, artifacts and run state.

Resume lives in DuckDB, not in Prefect's result cache: each task asks the database what this
run still lacks and does only that, one sample at a time, so a crash loses at most the
sample in flight. Prefect's input-hash caching is therefore off (NO_CACHE).
"""
