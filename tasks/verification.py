"""Tasks: check each prompt's own tests before generation, and judge every generated sample.

Both open the judge the same way: the configured sandbox, which must first pass its
self-check (`tessy_factory.verify.selfcheck`), so a weakened sandbox stops the build before
any generated code runs.
"""

from __future__ import annotations

import dataclasses
import json

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tessy_factory.config import VerificationConfig
from tessy_factory.db import connect, sql, store
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


@task(name="verify", cache_policy=NO_CACHE)
def verify(run_id: str, config: VerificationConfig, home: FactoryHome) -> dict[str, int]:
    """Run each pending sample's program against its prompt's tests; counts by verdict."""
    logger = get_run_logger()
    counts: dict[str, int] = {}
    with connect(home.database) as con:
        pending = con.execute(sql("unverified_samples"), [run_id]).fetchall()
    logger.info("verification: %d samples to judge", len(pending))
    if not pending:
        return counts
    judge = open_judge(config)
    for start in range(0, len(pending), BATCH):
        batch = pending[start : start + BATCH]
        items = [(text, json.loads(tests)) for _, text, tests in batch]
        rows = []
        for (sid, _, _), j in zip(batch, judge_many(judge, items, config.workers), strict=True):
            counts[j.verdict.value] = counts.get(j.verdict.value, 0) + 1
            if j.verdict is Verdict.SANDBOX_ERROR:
                # The judge's own failure: left unjudged, so a re-run judges it again.
                logger.warning("verification: sample %s not judged: %s", sid, j.detail)
                continue
            rows.append([run_id, sid, *_verdict_row(j)])
        if rows:
            store(home.database, "insert_verdict", rows)
    logger.info("verification: %s", counts)
    return counts


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
