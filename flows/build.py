"""The nightly dataset build: sourcing -> generation -> verification -> curation -> publish."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import flow

from tasks.curation import curate_run, read_eval_sets
from tasks.generation import run_generation
from tasks.metrics import measure_run
from tasks.publishing import publish_release
from tasks.reporting import record_artifacts, write_report
from tasks.runs import announce_run, check_run_id, close_run, fail_run, new_run_id, open_run
from tasks.sourcing import fingerprint_sources, load_prompts, settle_prompts
from tasks.verification import check_tests, verify
from tessy_factory.artifacts import gate_failure
from tessy_factory.config import BuildConfig
from tessy_factory.home import FactoryHome


class QualityGateFailed(RuntimeError):
    """The great-expectations suite rejected the rows; nothing was published."""


@dataclass(frozen=True)
class BuildResult:
    """Where a finished build put its dataset and report."""

    run_id: str
    version: str
    dataset: str
    report: str
    rows: int


@flow(name="build-dataset", log_prints=True)
def build_dataset(
    config: BuildConfig,
    run_id: str | None = None,
    config_dir: str = ".",
    allow_rewrite: bool = False,
) -> BuildResult:
    """Build one dataset version. Re-running with the same `run_id` resumes that build.

    `config_dir` is where relative paths in the config (prompt files) are resolved.
    `allow_rewrite` publishes even when the target lost versions this factory published
    (README: Versions); it is no part of the config, so a run may resume with it.
    """
    home = FactoryHome.resolve(config.home)
    run_id = check_run_id(run_id) if run_id else new_run_id(config)
    announce_run(run_id, "build")
    # Before the run is recorded: a source that cannot be read leaves no run behind.
    sources = fingerprint_sources(config.sources, Path(config_dir))
    eval_items = read_eval_sets(config.curation.decontamination, Path(config_dir))
    open_run(run_id, config, home, sources)
    try:
        load_prompts(run_id, config.sources, home, Path(config_dir))
        check_tests(run_id, config.verification, home)
        settle_prompts(run_id, home)
        run_generation(run_id, config, home)
        verify(run_id, config.verification, home)
        quality = curate_run(run_id, config, home, eval_items)
        quality = quality.plus(measure_run(run_id, config, home))
        report = write_report(run_id, config, home, quality, releasing=quality.success)
        if not quality.success:
            record_artifacts(run_id, config, home, quality, release=None)
            report_file = home.reports / f"{run_id}.md"
            raise QualityGateFailed(
                gate_failure(run_id, quality, report_file, config.publish.repo_id)
            )
        release = publish_release(run_id, config, home, report, allow_rewrite)
        record_artifacts(run_id, config, home, quality, release)
    except Exception as exc:
        fail_run(run_id, home, exc)
        raise
    close_run(run_id, home)
    return BuildResult(
        run_id=run_id,
        version=release.version,
        dataset=release.location,
        report=str(home.reports / f"{run_id}.md"),
        rows=release.n_rows,
    )
