"""Task: write the build report to the factory home and as a Prefect artifact."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from tessy_factory.config import BuildConfig
from tessy_factory.db import connect
from tessy_factory.home import FactoryHome
from tessy_factory.report import build_report


@task(name="report", cache_policy=NO_CACHE)
def write_report(
    run_id: str, config: BuildConfig, home: FactoryHome, quality_md: str, releasing: bool
) -> str:
    """Render the report, save it as reports/<run_id>.md and attach it to the flow run."""
    with connect(home.database) as con:
        report = build_report(
            con, run_id, config.report.style_phrases, quality_md, releasing=releasing
        )
    (home.reports / f"{run_id}.md").write_text(report, encoding="utf-8")
    create_markdown_artifact(
        key=_artifact_key(run_id), markdown=report, description=f"Build report of {run_id}"
    )
    return report


def _artifact_key(run_id: str) -> str:
    # Artifact keys allow only lowercase letters, digits and dashes.
    return "report-" + "".join(c if c.isalnum() else "-" for c in run_id.lower())
