"""Tasks: hash the build's prompt sources, read them as candidate rows, then settle one row per
prompt."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tessy_factory.config import PromptSource
from tessy_factory.db import connect
from tessy_factory.home import FactoryHome
from tessy_factory.sources import load_sources, settle_candidates
from tessy_factory.sources.fingerprint import source_fingerprints


@task(name="fingerprint-sources", cache_policy=NO_CACHE)
def fingerprint_sources(sources: list[PromptSource], base_dir: Path) -> dict[str, str]:
    """Each source's content hash, kept with the run; fails if a source cannot be read."""
    return source_fingerprints(sources, base_dir)


@task(name="load-prompts", cache_policy=NO_CACHE)
def load_prompts(
    run_id: str, sources: list[PromptSource], home: FactoryHome, base_dir: Path
) -> dict[str, int]:
    """Normalise every source row; malformed rows go to quarantine with their reason."""
    with connect(home.database) as con:
        counts = load_sources(con, run_id, sources, base_dir)
    get_run_logger().info("prompts: %s", counts)
    return counts


@task(name="settle-prompts", cache_policy=NO_CACHE)
def settle_prompts(run_id: str, home: FactoryHome) -> dict[str, int]:
    """Keep one row per prompt (the first whose tests passed the check, when it ran) and
    quarantine the other rows of the same text as its duplicates."""
    with connect(home.database) as con:
        counts = settle_candidates(con, run_id)
    get_run_logger().info("prompts settled: %s", counts)
    return counts
