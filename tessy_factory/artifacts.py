"""What a build shows on Prefect's Artifacts page, under keys stable per dataset.

Every build of a dataset (`publish.repo_id`) adds a version to the same four artifacts, so
the page holds the dataset's history: a short markdown summary (the version and where it was
published, or the expectations that failed), the drop funnel and the per-mode figures as
table artifacts (a wide markdown table is clipped there), and a link to the HTML report.

Prefect-free: tasks/reporting.py creates the artifacts from what this module renders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from tessy_factory.curate.metrics_summary import metrics_by_mode
from tessy_factory.curate.quality import QualityResult
from tessy_factory.figures import rounded_values
from tessy_factory.home import FactoryHome
from tessy_factory.publish.version import REPORT_FILE, Release
from tessy_factory.report import markdown_cell, mode_figures


@dataclass(frozen=True)
class ArtifactKeys:
    """The artifact keys of one dataset."""

    summary: str
    funnel: str
    metrics: str
    report: str


def artifact_keys(repo_id: str) -> ArtifactKeys:
    """`tessy/demo` -> tessy-demo-summary, tessy-demo-funnel, ..."""
    slug = key_slug(repo_id)
    return ArtifactKeys(*(f"{slug}-{part}" for part in ("summary", "funnel", "metrics", "report")))


def key_slug(name: str) -> str:
    """`name` as a part of an artifact key: Prefect allows only lowercase ASCII letters,
    digits and dashes in a key (`str.isalnum` would let é through)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def html_report(home: FactoryHome, run_id: str) -> Path:
    """Where the run's HTML report is written (tessy_factory/report_html)."""
    return home.reports / f"{run_id}.html"


def summary_markdown(
    run_id: str, repo_id: str, quality: QualityResult, release: Release | None, report: Path
) -> str:
    """The build in a few lines: what it published and where, or why it published nothing."""
    if release is None and quality.success:
        head = f"# {repo_id}: nothing published, a dry run"
        facts = []
    elif release is None:
        head = f"# {repo_id}: nothing published, the quality gate failed"
        facts = [("Failed", "<br>".join(quality.failed_checks()))]
    else:
        head = f"# {repo_id} {release.version}: {release.n_rows} rows published"
        facts = [
            ("Version", release.version),
            ("Published to", release.location),
            ("Report in the release", published_report(release)),
        ]
    facts += [("Run", run_id), ("Report", f"{report} (`tessy report {run_id}`)")]
    lines = [head, "", "| | |", "| --- | --- |"]
    lines += [f"| {name} | {markdown_cell(value)} |" for name, value in facts]
    return "\n".join(lines) + "\n"


def published_report(release: Release) -> str:
    """Where the release's copy of the report is: a URL on the Hub, else the file at the
    version's tag in the local repository."""
    if release.location.startswith(("https://", "http://")):
        return f"{release.location}/blob/{release.version}/{REPORT_FILE}"
    return f"{Path(release.location) / REPORT_FILE} (tag {release.version})"


def funnel_rows(counts: dict[str, int]) -> list[dict[str, object]]:
    """The drop funnel as table rows, stages in pipeline order."""
    return [{"stage": stage.replace("_", " "), "rows": n} for stage, n in counts.items()]


def mode_rows(
    con: duckdb.DuckDBPyConnection, run_id: str, phrases: list[str]
) -> list[dict[str, object]]:
    """Per generation mode: the report's figures, and the medians of the style metrics of
    the rows to publish (None where none were measured), rounded."""
    measured = {group["mode"]: group for group in metrics_by_mode(con, run_id, kept_only=True)}
    rows = []
    for figures in mode_figures(con, run_id, phrases):
        metrics = measured.get(figures.mode, {})
        nll = metrics.get("student_nll")
        row = {
            "mode": figures.mode,
            "samples": figures.samples,
            "accepted": figures.accepted,
            "pass rate": figures.pass_rate,
            "style phrases / sample": figures.style_phrases_per_sample,
            "teacher token share": figures.teacher_token_share,
            "switches / sample": figures.switches_per_sample,
            "seconds / sample": figures.seconds_per_sample,
            "kept rows": metrics.get("rows", 0),
            "TF-IDF to student": metrics.get("tfidf_to_student"),
            "student NLL / token": nll[1] if nll else None,
        }
        rows.append(rounded_values(row))
    return rows


def gate_failure(run_id: str, quality: QualityResult, report: Path, repo_id: str) -> str:
    """The failed gate in one line: each failing expectation with what it observed, and
    where to read the whole report (the file, the command, the Prefect artifact)."""
    return (
        f"run {run_id}: the quality gate failed: {'; '.join(quality.failed_checks())}; "
        f"report: {report} (tessy report {run_id}; Prefect artifact "
        f"{artifact_keys(repo_id).summary})"
    )
