"""Task: dedup and keep/drop decisions in DuckDB, then the great-expectations gate."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tessy_factory.config import CurationConfig
from tessy_factory.curate.dedup import curate
from tessy_factory.curate.quality import QualityResult, check_quality
from tessy_factory.curate.rows import published_rows
from tessy_factory.db import connect
from tessy_factory.home import FactoryHome


@task(name="curate", cache_policy=NO_CACHE)
def curate_run(run_id: str, config: CurationConfig, home: FactoryHome) -> QualityResult:
    """Decide what is kept, then validate the rows to publish; the caller gates on success."""
    with connect(home.database) as con:
        counts = curate(con, run_id, config.require_accepted, config.include_unchecked_prompts)
        rows = published_rows(con, run_id)
    get_run_logger().info("curation: %s", counts)
    return check_quality(rows, config.max_total_tokens, config.min_rows_to_publish)
