"""The nightly dataset build: sourcing -> generation -> verification -> curation -> publish."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow

from tasks.curation import curate_run, read_eval_sets
from tasks.generation import run_generation
from tasks.metrics import measure_run
from tasks.publishing import publish_release
from tasks.reporting import record_artifacts, write_report
from tasks.runs import (
    announce_run,
    check_run_id,
    close_dry_run,
    close_run,
    fail_run,
    new_run_id,
    open_run,
)
from tasks.sourcing import fingerprint_sources, load_prompts, settle_prompts
from tasks.verification import check_tests, run_verification
from tessy_factory.artifacts import gate_failure
from tessy_factory.config import load_config
from tessy_factory.execution import open_runner
from tessy_factory.home import FactoryHome


class QualityGateFailed(RuntimeError):
    """The great-expectations suite rejected the rows; nothing was published."""


@dataclass(frozen=True)
class BuildResult:
    """Where a finished build put its dataset and report; a dry run publishes none."""

    run_id: str
    version: str | None
    dataset: str | None
    report: str
    rows: int


# No log_prints: dill (which datasets uses to hash functions) disassembles a function into
# a captured stdout to find its globals, and log_prints sent each line of bytecode to the log.
@flow(name="build-dataset")
def build_dataset(
    config: str,
    overrides: dict[str, Any] = {},  # noqa: B006 (never changed; the UI form shows it)
    run_id: str = "",
    dry_run: bool = False,
    allow_rewrite: bool = False,
) -> BuildResult:
    """Build one dataset version. Re-running with the same `run_id` resumes that build.

    Args:
        config: Path of the YAML build config, relative to the flow's working directory (the
            repository for a deployment); relative paths inside it resolve against its folder.
        overrides: Config keys to change, deep-merged into the file, dotted or nested, e.g.
            {"generation.max_total_tokens": 256}; an unknown key fails the run, naming it.
        run_id: Resume this run, or name a new one; empty: a new id.
        dry_run: Run everything but publishing; the run ends with status dry-run.
        allow_rewrite: Publish even when the target lost versions this factory published to
            it (README, Versions); numbering goes on after them.
    """
    config_file = Path(config)
    config_dir = config_file.resolve().parent
    build = load_config(config_file, overrides)
    home = FactoryHome.resolve(build.home)
    run_id = check_run_id(run_id) if run_id else new_run_id(build)
    announce_run(run_id, "build")
    # Before the run is recorded: a source that cannot be read leaves no run behind.
    sources = fingerprint_sources(build.sources, config_dir)
    eval_items = read_eval_sets(build.curation.decontamination, config_dir)
    open_run(run_id, build, home, sources)
    try:
        load_prompts(run_id, build.sources, home, config_dir)
        check_tests(run_id, build.verification, home)
        settle_prompts(run_id, home)
        # Generation and verification on the configured runner; the rest stays here.
        with open_runner(build.execution) as runner:
            run_generation(run_id, build, home, runner)
            run_verification(run_id, build, home, runner)
        quality = curate_run(run_id, build, home, eval_items)
        quality = quality.plus(measure_run(run_id, build, home))
        releasing = quality.success and not dry_run
        report = write_report(run_id, build, home, quality, releasing=releasing)
        if not quality.success:
            record_artifacts(run_id, build, home, quality, release=None)
            report_file = home.reports / f"{run_id}.md"
            raise QualityGateFailed(
                gate_failure(run_id, quality, report_file, build.publish.repo_id)
            )
        release = None if dry_run else publish_release(run_id, build, home, report, allow_rewrite)
        record_artifacts(run_id, build, home, quality, release)
    except Exception as exc:
        fail_run(run_id, home, exc)
        raise
    if release is None:
        close_dry_run(run_id, home)
        return BuildResult(run_id, None, None, str(home.reports / f"{run_id}.md"), rows=0)
    close_run(run_id, home)
    return BuildResult(
        run_id=run_id,
        version=release.version,
        dataset=release.location,
        report=str(home.reports / f"{run_id}.md"),
        rows=release.n_rows,
    )
