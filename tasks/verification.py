"""Tasks: check each prompt's own tests before generation, and judge every generated sample.

Both open the judge the same way: the configured sandbox, which must first pass its
self-check (`tessy_factory.verify.selfcheck`), so a weakened sandbox stops the build before
any generated code runs.

Samples are judged in batches (`_judged`): here, stored batch by batch, or with
`execution.task_runner: dask` as tasks `verify-shard` on Dask workers, each worker opening
its judge once, and the flow's process storing each shard's verdicts.
"""

from __future__ import annotations

import dataclasses
import json

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner

from tasks.shards import store_as_completed
from tessy_factory.config import BuildConfig, VerificationConfig
from tessy_factory.db import connect, sql, store
from tessy_factory.execution import needing, per_process, shards
from tessy_factory.home import FactoryHome
from tessy_factory.verify.judge import Judge, Judgement, Verdict, judge_many
from tessy_factory.verify.sanity import JudgeFailed, problem_with_tests
from tessy_factory.verify.selfcheck import ensure_isolation

# Checks and verdicts are stored per batch, so an interrupted run keeps what was judged;
# the database is opened for each batch's write only, never while the judge runs.
BATCH = 32


def open_judge(config: VerificationConfig) -> Judge:
    """The build's judge, once its sandbox passed the self-check."""
    logger = get_run_logger()
    judge = Judge.from_config(config)
    if judge.sandbox.name == "unsafe":
        logger.warning("verification: sandbox 'unsafe': generated code runs without isolation")
    else:
        ensure_isolation(judge.sandbox, judge.limits, config.python)
        logger.info("verification: the %s sandbox passed its self-check", judge.sandbox.name)
    return judge


@task(name="check-tests", cache_policy=NO_CACHE)
def check_tests(run_id: str, config: VerificationConfig, home: FactoryHome) -> dict[str, int]:
    """Exclude each prompt candidate whose tests accept an empty program or reject its own
    reference; counts the rows checked by outcome.

    Rows of the same text (one prompt_id) are checked in load order until one passes: that
    one becomes the prompt when the candidates are settled next (see
    `tessy_factory.sources.settle`), so the rows after it need no check. References are
    Python programs, so they are checked with a Python judge whatever the build's language.
    A sandbox failure marks the row `unchecked`, with the judge's reason: a re-run checks it
    again, and until then its prompt is generated for and published only with
    `curation.include_unchecked_prompts`.
    """
    logger = get_run_logger()
    if not config.check_tests:
        return {}
    judge = open_judge(config.model_copy(update={"language": "python"}))
    counts = {"ok": 0, "excluded": 0, "unchecked": 0}
    passed: set[str] = set()
    with connect(home.database) as con:
        pending = con.execute(sql("candidates_to_check"), {"run_id": run_id}).fetchall()
    for start in range(0, len(pending), BATCH):
        rows = []
        for source, source_row, location, prompt_id, tests, reference in pending[
            start : start + BATCH
        ]:
            if prompt_id in passed:
                continue
            status, reason = _checked(judge, json.loads(tests), reference)
            counts[status] += 1
            if status == "ok":
                passed.add(prompt_id)
            else:
                where = f"{source} {location}"
                logger.warning(
                    "check-tests: prompt %s (%s) %s: %s", prompt_id, where, status, reason
                )
            rows.append([status, reason, run_id, source, source_row])
        store(home.database, "candidate_checked", rows)
    logger.info("check-tests: %s", counts)
    return counts


def _checked(judge: Judge, tests: dict, reference: str | None) -> tuple[str, str | None]:
    """The prompt's check status (ok, excluded or unchecked) and the reason for it."""
    try:
        reason = problem_with_tests(judge, tests, reference)
    except JudgeFailed as exc:
        return "unchecked", f"the judge failed: {exc}"
    return ("ok", None) if reason is None else ("excluded", reason)


def run_verification(
    run_id: str, config: BuildConfig, home: FactoryHome, runner: TaskRunner | None = None
) -> dict[str, int]:
    """Judge every pending sample: here, or with a `runner` (the build's DaskTaskRunner) in
    shards on its workers; counts by verdict."""
    if runner is None:
        return verify(run_id, config.verification, home)
    return verify_on_cluster(run_id, config, home, runner)


@task(name="verify", cache_policy=NO_CACHE)
def verify(run_id: str, config: VerificationConfig, home: FactoryHome) -> dict[str, int]:
    """Run each pending sample's program against its prompt's tests; counts by verdict."""
    logger = get_run_logger()
    counts: dict[str, int] = {}
    pending = _unverified(run_id, home)
    logger.info("verification: %d samples to judge", len(pending))
    if not pending:
        return counts
    judge = open_judge(config)
    for batch in shards(pending, BATCH):
        rows, judged = _judged(run_id, batch, judge, config.workers)
        store(home.database, "insert_verdict", rows)
        _add(counts, judged)
    logger.info("verification: %s", counts)
    return counts


def verify_on_cluster(
    run_id: str, config: BuildConfig, home: FactoryHome, runner: TaskRunner
) -> dict[str, int]:
    """Judge the pending samples in shards of `execution.verify_shard_size` on the runner's
    workers, storing each shard's verdicts here as it completes (one database writer)."""
    logger = get_run_logger()
    counts: dict[str, int] = {}
    pending = _unverified(run_id, home)
    parts = shards(pending, config.execution.verify_shard_size)
    logger.info("verification: %d samples to judge, in %d shards on dask", len(pending), len(parts))
    with needing(config.execution.verification_resources):
        futures = [
            runner.submit(
                verify_shard, {"run_id": run_id, "config": config.verification, "batch": part}
            )
            for part in parts
        ]

    def keep(result: tuple[list[list], dict[str, int]]) -> None:
        rows, judged = result
        store(home.database, "insert_verdict", rows)
        _add(counts, judged)

    errors = store_as_completed(futures, keep)
    if errors:
        # The shards judged are stored; a re-run judges only the failed ones' samples.
        raise errors[0]
    logger.info("verification: %s", counts)
    return counts


@task(name="verify-shard", cache_policy=NO_CACHE)
def verify_shard(
    run_id: str, config: VerificationConfig, batch: list[tuple[str, str, str]]
) -> tuple[list[list], dict[str, int]]:
    """Judge a shard of (sample_id, text, tests) on this worker, which opens its judge
    (and runs the sandbox's self-check) once, for its first shard; the verdict rows and
    the counts by verdict."""
    judge = per_process("judge:" + config.model_dump_json(), lambda: open_judge(config))
    return _judged(run_id, batch, judge, config.workers)


def _unverified(run_id: str, home: FactoryHome) -> list[tuple[str, str, str]]:
    with connect(home.database) as con:
        return [tuple(row) for row in con.execute(sql("unverified_samples"), [run_id]).fetchall()]


def _judged(
    run_id: str, batch: list[tuple[str, str, str]], judge: Judge, workers: int
) -> tuple[list[list], dict[str, int]]:
    """The verdict rows of a batch of (sample_id, text, tests), and its counts by verdict;
    a sample the judge itself failed on is left out, so a re-run judges it again."""
    logger = get_run_logger()
    counts: dict[str, int] = {}
    items = [(text, json.loads(tests)) for _, text, tests in batch]
    rows = []
    for (sid, _, _), j in zip(batch, judge_many(judge, items, workers), strict=True):
        counts[j.verdict.value] = counts.get(j.verdict.value, 0) + 1
        if j.verdict is Verdict.SANDBOX_ERROR:
            logger.warning("verification: sample %s not judged: %s", sid, j.detail)
            continue
        rows.append([run_id, sid, *_verdict_row(j)])
    return rows, counts


def _add(counts: dict[str, int], more: dict[str, int]) -> None:
    for verdict, n in more.items():
        counts[verdict] = counts.get(verdict, 0) + n


def _verdict_row(j: Judgement) -> list:
    cases = [dataclasses.asdict(case) for case in j.cases]
    return [
        j.verdict.value,
        j.tests_passed,
        j.tests_total,
        j.detail,
        j.seconds,
        j.first_failure,
        json.dumps(cases),
    ]
