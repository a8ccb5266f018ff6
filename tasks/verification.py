"""Task: judge every generated sample of the run that has no verdict yet."""

from __future__ import annotations

import json

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tessy_factory.config import VerificationConfig
from tessy_factory.db import connect, sql
from tessy_factory.home import FactoryHome
from tessy_factory.verify.judge import Verdict, judge_many
from tessy_factory.verify.runner import Limits

# Verdicts are stored per batch, so an interrupted run keeps what was judged.
BATCH = 32


@task(name="verify", cache_policy=NO_CACHE)
def verify(run_id: str, config: VerificationConfig, home: FactoryHome) -> dict[str, int]:
    """Run each pending sample's program against its prompt's tests; counts by verdict."""
    logger = get_run_logger()
    limits = Limits(
        time_limit_s=config.time_limit_s,
        memory_mb=config.memory_mb,
        output_limit_bytes=config.output_limit_bytes,
    )
    counts: dict[str, int] = {}
    with connect(home.database) as con:
        pending = con.execute(sql("unverified_samples"), [run_id]).fetchall()
        logger.info("verification: %d samples to judge", len(pending))
        for start in range(0, len(pending), BATCH):
            batch = pending[start : start + BATCH]
            judgements = judge_many(
                [(text, json.loads(tests)) for _, text, tests in batch], limits, config.workers
            )
            rows = []
            for (sid, _, _), j in zip(batch, judgements, strict=True):
                counts[j.verdict.value] = counts.get(j.verdict.value, 0) + 1
                if j.verdict is Verdict.SANDBOX_ERROR:
                    # The judge's own failure: left unjudged, so a re-run judges it again.
                    logger.warning("verification: sample %s not judged: %s", sid, j.detail)
                    continue
                rows.append(
                    [
                        run_id,
                        sid,
                        j.verdict.value,
                        j.tests_passed,
                        j.tests_total,
                        j.detail,
                        j.seconds,
                    ]
                )
            if rows:
                con.executemany(sql("insert_verdict"), rows)
    logger.info("verification: %s", counts)
    return counts
