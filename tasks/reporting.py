"""Tasks: write the build report to the factory home, and add the build to its dataset's
Prefect artifacts (tessy_factory/artifacts.py)."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NO_CACHE

from tessy_factory.artifacts import (
    artifact_keys,
    funnel_rows,
    html_report,
    mode_rows,
    summary_markdown,
)
from tessy_factory.config import BuildConfig
from tessy_factory.curate.funnel import funnel
from tessy_factory.curate.quality import QualityResult
from tessy_factory.db import connect
from tessy_factory.home import FactoryHome
from tessy_factory.publish.version import Release
from tessy_factory.report import build_report
from tessy_factory.report_html.data import gather, save_quality
from tessy_factory.report_html.render import html_path, render


@task(name="report", cache_policy=NO_CACHE)
def write_report(
    run_id: str, config: BuildConfig, home: FactoryHome, quality: QualityResult, releasing: bool
) -> str:
    """Render the report, save it as reports/<run_id>.md and reports/<run_id>.html. The
    HTML names no version yet: publishing writes it again with the version, so a build the
    quality gate or the push stopped still has one."""
    with connect(home.database) as con:
        report = build_report(
            con, run_id, config.report.style_phrases, quality.to_markdown(), releasing=releasing
        )
        save_quality(con, run_id, quality.results)
        data = gather(con, run_id, None, releasing=releasing)
    (home.reports / f"{run_id}.md").write_text(report, encoding="utf-8")
    html_path(home, run_id).write_text(render(data), encoding="utf-8")
    return report


@task(name="artifacts", cache_policy=NO_CACHE)
def record_artifacts(
    run_id: str,
    config: BuildConfig,
    home: FactoryHome,
    quality: QualityResult,
    release: Release | None,
) -> None:
    """Add this build to its dataset's artifacts: once it published (`release`), or when the
    quality gate stopped it (None)."""
    repo_id = config.publish.repo_id
    keys = artifact_keys(repo_id)
    with connect(home.database) as con:
        counts = funnel(con, run_id)
        modes = mode_rows(con, run_id, config.report.style_phrases)
    report = html_report(home, run_id)
    outcome = release.version if release else "not published"
    create_markdown_artifact(
        key=keys.summary,
        markdown=summary_markdown(run_id, repo_id, quality, release, report),
        description=f"Build {run_id} of {repo_id}: {outcome}",
    )
    create_table_artifact(
        key=keys.funnel, table=funnel_rows(counts), description=f"Drop funnel of {run_id}"
    )
    create_table_artifact(
        key=keys.metrics, table=modes, description=f"Per-mode figures of {run_id}"
    )
    # A file URL needs no file: linked even where the HTML report is not written (yet).
    create_link_artifact(
        key=keys.report,
        link=report.as_uri(),
        link_text=f"Build report of {run_id} ({outcome})",
        description=f"The HTML report of {run_id}; `tessy report {run_id}` shows it too",
    )
