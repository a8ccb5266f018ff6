"""Tasks of the downstream probe (tessy_factory/probe): read the version and the held-out
problems, fine-tune and evaluate a student per mode, store each outcome, show the table."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tessy_factory.db import connect, sql
from tessy_factory.home import FactoryHome
from tessy_factory.probe.config import BASELINE, ProbeConfig
from tessy_factory.probe.dataset import Version, read_version
from tessy_factory.probe.problems import check_no_overlap, read_problems
from tessy_factory.probe.report import with_probe_section
from tessy_factory.probe.results import (
    ModeOutcome,
    ProbeKey,
    modes_done,
    probe_markdown,
    probe_rows,
    probe_table,
    store_outcome,
)
from tessy_factory.probe.runner import Evaluator, run_baseline, run_mode
from tessy_factory.report_html.data import Publication, gather
from tessy_factory.report_html.render import html_path, render
from tessy_factory.sources import Prompt


@task(name="read-version", cache_policy=NO_CACHE)
def read_dataset_version(config: ProbeConfig, home: FactoryHome) -> Version:
    """The version's rows; the modes it has, logged with their row counts."""
    version = read_version(config.dataset, home.hub)
    counts = version.rows["mode"].value_counts().to_dict()
    get_run_logger().info(
        "probing %s %s: rows per mode %s", version.repo_id, version.version, counts
    )
    return version


@task(name="read-eval-problems", cache_policy=NO_CACHE)
def read_eval_problems(
    config: ProbeConfig, base_dir: Path, version: Version, modes: list[str]
) -> list[Prompt]:
    """The held-out problems; fails, naming them, when any is a row the students train on."""
    problems = read_problems(config.evaluation.sources, base_dir)
    training = version.rows[version.rows["mode"].isin(modes)]
    check_no_overlap(problems, training, f"{version.repo_id} {version.version}")
    get_run_logger().info("evaluation problems: %d, none among the training rows", len(problems))
    return problems


@task(name="finished-modes", cache_policy=NO_CACHE)
def finished_modes(key: ProbeKey, home: FactoryHome) -> set[str]:
    """The modes an earlier attempt of this probe finished: a re-run skips them."""
    with connect(home.database) as con:
        return modes_done(con, key)


@task(name="load-evaluator", cache_policy=NO_CACHE)
def load_evaluator(config: ProbeConfig, problems: list[Prompt], home: FactoryHome) -> Evaluator:
    """The judge and the untrained student's scorer every student is evaluated with."""
    return Evaluator.load(config, problems, home)


@task(name="probe-mode", cache_policy=NO_CACHE)
def probe_mode(
    mode: str,
    version: Version,
    key: ProbeKey,
    config: ProbeConfig,
    home: FactoryHome,
    evaluator: Evaluator,
) -> ModeOutcome:
    """Fine-tune a fresh student on the mode's rows (the untrained one for the baseline),
    evaluate it and store the outcome."""
    logger = get_run_logger()

    def progress(epoch: int, step: int, loss: float) -> None:
        if step % 10 == 0:
            logger.info("%s: epoch %d step %d loss %.4f", mode, epoch, step, loss)

    if mode == BASELINE:
        outcome = run_baseline(config, home, evaluator)
    else:
        outcome = run_mode(mode, version, key, config, home, evaluator, progress)
    record_outcome(key, outcome, config, home)
    logger.info(
        "%s: pass@1 %.3f, loss by epoch %s, %.0f s training, %.0f s evaluation",
        mode,
        outcome.pass_at.get("1", 0.0),
        [round(loss, 4) for loss in outcome.epoch_loss],
        outcome.train_seconds or 0.0,
        outcome.eval_seconds or 0.0,
    )
    return outcome


def record_outcome(
    key: ProbeKey, outcome: ModeOutcome, config: ProbeConfig, home: FactoryHome
) -> None:
    """Store one mode's outcome against the version."""
    with connect(home.database) as con:
        store_outcome(
            con, key, outcome, config.name, config.student.model, config.model_dump(mode="json")
        )


@task(name="skip-modes", cache_policy=NO_CACHE)
def skip_modes(
    key: ProbeKey, skipped: list[ModeOutcome], config: ProbeConfig, home: FactoryHome
) -> None:
    """Record each asked-for mode the version has no rows of, with the reason."""
    for outcome in skipped:
        get_run_logger().warning("skipping mode %s: %s", outcome.mode, outcome.reason)
        record_outcome(key, outcome, config, home)


@task(name="probe-report", cache_policy=NO_CACHE)
def show_probe(key: ProbeKey, home: FactoryHome) -> str:
    """This probe's table of the version, as markdown (another probe of the version, another
    config, has its own). When this factory built the version, the
    home's reports of that build (markdown and HTML) gain the table, or have it replaced."""
    with connect(home.database) as con:
        table = probe_table(probe_rows(con, key.repo_id, key.version, key.probe_hash))
        found = con.execute(
            sql("probe_release_run"), {"repo_id": key.repo_id, "version": key.version}
        ).fetchone()
        if found is None:
            return table
        run_id, location = found
        report, html = home.reports / f"{run_id}.md", html_path(home, run_id)
        if report.is_file():
            section = probe_markdown(con, key.repo_id)
            report.write_text(
                with_probe_section(report.read_text(encoding="utf-8"), section),
                encoding="utf-8",
            )
            get_run_logger().info("the probe table is in the build's report %s", report)
        if html.is_file():
            data = gather(con, run_id, Publication(key.version, location), releasing=True)
            html.write_text(render(data), encoding="utf-8")
    return table
