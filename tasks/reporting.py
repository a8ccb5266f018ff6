"""Task: write the build report to the factory home and as a Prefect artifact."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from tessy_factory.config import BuildConfig
from tessy_factory.curate.quality import QualityResult
from tessy_factory.db import connect
from tessy_factory.home import FactoryHome
from tessy_factory.report import build_report
from tessy_factory.report_html.data import gather, save_quality
from tessy_factory.report_html.render import html_path, render


@task(name="report", cache_policy=NO_CACHE)
def write_report(
    run_id: str, config: BuildConfig, home: FactoryHome, quality: QualityResult, releasing: bool
) -> str:
    """Render the report, save it as reports/<run_id>.md and reports/<run_id>.html and attach
    the markdown to the flow run. The HTML names no version yet: publishing writes it again
    with the version, so a build the quality gate or the push stopped still has one."""
    with connect(home.database) as con:
        report = build_report(
            con, run_id, config.report.style_phrases, quality.to_markdown(), releasing=releasing
        )
        save_quality(con, run_id, quality.results)
        data = gather(con, run_id, None, releasing=releasing)
    (home.reports / f"{run_id}.md").write_text(report, encoding="utf-8")
    html_path(home, run_id).write_text(render(data), encoding="utf-8")
    create_markdown_artifact(
        key=_artifact_key(run_id), markdown=report, description=f"Build report of {run_id}"
    )
    return report


def _artifact_key(run_id: str) -> str:
    # Artifact keys allow only lowercase letters, digits and dashes.
    return "report-" + "".join(c if c.isalnum() else "-" for c in run_id.lower())
