"""What the HTML report shows, read from the factory's database in one short spell."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from tessy_factory.curate.funnel import funnel
from tessy_factory.curate.metrics_summary import metrics_by_mode, metrics_by_version
from tessy_factory.curate.quality import Outcome
from tessy_factory.db import sql
from tessy_factory.probe.results import probe_ks, probe_rows
from tessy_factory.report import ModeFigures, mode_figures, shared_config
from tessy_factory.trace_format import THINK_CLOSE, THINK_OPEN

# Example rows shown under each drop reason, samples in the sample browser, and versions in
# the trend charts: enough to audit, small enough to keep the file light.
DROP_EXAMPLES = 3
SAMPLES_SHOWN = 100
TREND_VERSIONS = 10


@dataclass(frozen=True)
class Publication:
    """Where the build's version goes: named before the push, so the published copy says it."""

    version: str
    location: str


@dataclass(frozen=True)
class Sample:
    """One generated sample for the sample browser; `segments` are (author, text) in order,
    the author `format` for the think markers between the authors' spans."""

    sample_id: str
    mode: str
    prompt: str
    verdict: str
    outcome: str
    flag: str | None
    segments: list[tuple[str, str]]
    teacher_tokens: int | None
    student_tokens: int | None
    n_switches: int | None


@dataclass(frozen=True)
class ReportData:
    """Everything one HTML report shows."""

    run_id: str
    generated_at: datetime
    publication: Publication | None
    releasing: bool
    config: dict[str, Any]
    models: dict[str, Any]
    timings: dict[str, Any]
    funnel: dict[str, int]
    modes: list[ModeFigures]
    metric_rows: pd.DataFrame
    metrics_published: list[dict]
    trend: pd.DataFrame
    verdicts: pd.DataFrame
    drops: pd.DataFrame
    quality: list[Outcome]
    samples: list[Sample]
    # The downstream probes of the dataset's versions (`tessy probe`), per version the
    # latest probe whole.
    probes: list[dict]

    @property
    def repo_id(self) -> str:
        return self.config["publish"]["repo_id"]

    @property
    def probe_ks(self) -> list[str]:
        """The k of every pass@k the probes report, in order."""
        return probe_ks(self.probes)

    @property
    def gate_failed(self) -> bool:
        """Whether an expectation failed: a build not releasing without one is a dry run."""
        return any(not outcome.success for outcome in self.quality)


def save_quality(con: duckdb.DuckDBPyConnection, run_id: str, outcomes: list[Outcome]) -> None:
    """Keep the quality gate's outcomes of `run_id`, in the suite's order, for its report; a
    re-run replaces them."""
    con.execute(sql("quality_results_clear"), [run_id])
    con.executemany(
        sql("quality_results_insert"),
        [[run_id, position, *outcome] for position, outcome in enumerate(outcomes)],
    )


def gather(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    publication: Publication | None,
    *,
    releasing: bool,
) -> ReportData:
    """The report of `run_id`; `publication` names the version it goes out as (None: not
    published), and the funnel then counts the kept rows as published. `releasing`: the
    quality gate passed, so the rows are on their way to a release."""
    run = con.execute(sql("run_get"), [run_id]).fetchone()
    if run is None:
        raise ValueError(f"run {run_id!r}: no such run in the factory database")
    config = shared_config(run[2])
    counts = funnel(con, run_id)
    if publication is not None:
        counts["published"] = counts["kept"]
    phrases = config["report"]["style_phrases"]
    models = con.execute(sql("run_models_get"), [run_id]).fetchone()[0]
    params = {"run_id": run_id}
    return ReportData(
        run_id=run_id,
        generated_at=datetime.now(),
        publication=publication,
        releasing=releasing,
        config=config,
        models=json.loads(models) if models else {},
        timings=_timings(con, run_id),
        funnel=counts,
        modes=mode_figures(con, run_id, phrases),
        metric_rows=con.execute(sql("report_metric_rows"), params).df(),
        metrics_published=metrics_by_mode(con, run_id, kept_only=True),
        trend=_trend(con, config["publish"]["repo_id"], run_id, publication),
        verdicts=con.execute(sql("report_verdicts"), params).df(),
        drops=con.execute(sql("report_drop_examples"), {**params, "examples": DROP_EXAMPLES}).df(),
        quality=[
            Outcome(*row) for row in con.execute(sql("quality_results_of_run"), [run_id]).fetchall()
        ],
        samples=_samples(con, run_id),
        probes=probe_rows(con, config["publish"]["repo_id"]),
    )


def _timings(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any]:
    cursor = con.execute(sql("report_timings"), {"run_id": run_id})
    names = [column[0] for column in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))


def _trend(
    con: duckdb.DuckDBPyConnection,
    repo_id: str,
    run_id: str,
    publication: Publication | None,
) -> pd.DataFrame:
    """Per version of the dataset (the last TREND_VERSIONS, oldest first) and mode, the
    medians of the published rows; the version this build is publishing included, as it is
    not recorded until the push is done."""
    groups = metrics_by_version(con, repo_id)
    versions = [group["version"] for group in groups]
    if publication is not None and publication.version not in versions:
        current = metrics_by_mode(con, run_id, kept_only=True)
        groups += [{**group, "version": publication.version} for group in current]
        versions.append(publication.version)
    shown = list(dict.fromkeys(versions))[-TREND_VERSIONS:]
    return pd.DataFrame([group for group in groups if group["version"] in shown])


def _samples(con: duckdb.DuckDBPyConnection, run_id: str) -> list[Sample]:
    rows = con.execute(sql("report_samples"), {"run_id": run_id, "limit": SAMPLES_SHOWN}).fetchall()
    return [
        Sample(
            sample_id=row[0],
            mode=row[1],
            prompt=row[2] or "",
            verdict=row[3],
            outcome=row[4],
            flag=row[5],
            segments=_segments(row[6], row[7]),
            teacher_tokens=row[8],
            student_tokens=row[9],
            n_switches=row[10],
        )
        for row in rows
    ]


def _segments(text: str | None, spans: str | None) -> list[tuple[str, str]]:
    """The trace as (author, text) pieces that join back into it: the thinking spans inside
    the think markers, then the answer spans; a sample stored without spans is one piece of
    unknown author."""
    if not spans:
        return [("unknown", text or "")]
    parsed = json.loads(spans)
    thinking = [(span["author"], span["text"]) for span in parsed if span["phase"] != "answer"]
    answer = [(span["author"], span["text"]) for span in parsed if span["phase"] == "answer"]
    close = ("format", f"\n{THINK_CLOSE}\n\n")
    return [("format", THINK_OPEN), *thinking, close, *answer]
