"""The build report: the drop funnel, quarantined rows, per-mode figures, the quality gate
and the resolved config, as markdown."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import yaml

from tessy_factory.curate.funnel import funnel, funnel_markdown
from tessy_factory.curate.metrics_summary import metrics_by_mode, metrics_by_version
from tessy_factory.db import sql
from tessy_factory.probe.results import probe_markdown
from tessy_factory.trace_format import thinking_part

# Config keys that name a path on this machine: reports and cards, published beside the
# data (maybe on a public Hub), leave them out.
LOCAL_KEYS = frozenset({"home"})

# The prompts the report lists under the funnel, by their test-check status.
CHECK_HEADINGS = {
    "excluded": "Prompts excluded because their own tests failed the check:",
    "unchecked": "Prompts whose tests the judge failed to check (a re-run checks them again):",
}
# Failure reasons listed in the report, the most common first.
REASONS_SHOWN = 10
# Quarantined rows listed in the report, in source order, and the longest reason shown of
# each (the `quarantine` table holds them all, whole).
QUARANTINE_SHOWN = 10
REASON_CHARS = 200


@dataclass(frozen=True)
class ModeFigures:
    """How one generation mode did in a run."""

    mode: str
    samples: int
    generated: int
    accepted: int
    style_phrases_per_sample: float
    teacher_token_share: float
    switches_per_sample: float
    seconds_per_sample: float

    @property
    def pass_rate(self) -> float:
        return self.accepted / self.samples if self.samples else 0.0


def count_phrases(text: str, phrases: Sequence[str]) -> int:
    """Occurrences of the given style phrases in `text`."""
    return sum(text.count(phrase) for phrase in phrases)


def mode_figures(
    con: duckdb.DuckDBPyConnection, run_id: str, phrases: Sequence[str]
) -> list[ModeFigures]:
    """Per mode: pass rate over all samples, and style-phrase rate in the thinking of the
    generated ones (the measure of how student-like the traces read)."""
    rows = con.execute(sql("mode_samples"), [run_id]).fetchall()
    by_mode: dict[str, list[tuple]] = {}
    for row in rows:
        by_mode.setdefault(row[0], []).append(row)
    return [_figures(mode, samples, phrases) for mode, samples in sorted(by_mode.items())]


def _figures(mode: str, samples: list[tuple], phrases: Sequence[str]) -> ModeFigures:
    generated = [row for row in samples if row[1] == "ok"]
    thinking = [thinking_part(row[3]) for row in generated]
    teacher = sum(row[4] or 0 for row in generated)
    total = teacher + sum(row[5] or 0 for row in generated)
    per_generated = max(1, len(generated))
    return ModeFigures(
        mode=mode,
        samples=len(samples),
        generated=len(generated),
        accepted=sum(1 for row in samples if row[2] == "accepted"),
        style_phrases_per_sample=sum(count_phrases(t, phrases) for t in thinking) / per_generated,
        teacher_token_share=teacher / total if total else 0.0,
        switches_per_sample=sum(row[6] or 0 for row in generated) / per_generated,
        seconds_per_sample=sum(row[7] or 0.0 for row in generated) / per_generated,
    )


def modes_markdown(figures: Sequence[ModeFigures]) -> str:
    lines = [
        "| Mode | Samples | Generated | Accepted | Pass rate | Style phrases / sample "
        "| Teacher token share | Switches / sample | Seconds / sample |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for f in figures:
        lines.append(
            f"| {f.mode} | {f.samples} | {f.generated} | {f.accepted} | {f.pass_rate:.0%} "
            f"| {f.style_phrases_per_sample:.2f} | {f.teacher_token_share:.0%} "
            f"| {f.switches_per_sample:.1f} | {f.seconds_per_sample:.2f} |"
        )
    by_mode = {f.mode: f for f in figures}
    tessy, teacher = by_mode.get("tessy"), by_mode.get("teacher-only")
    if tessy and teacher and teacher.seconds_per_sample > 0:
        ratio = tessy.seconds_per_sample / teacher.seconds_per_sample
        lines.append(f"\nA tessy sample took {ratio:.1f}x the wall time of a teacher-only one.")
    return "\n".join(lines) + "\n"


def style_metrics_markdown(con: duckdb.DuckDBPyConnection, run_id: str) -> str:
    """The style metrics per mode, of the rows to publish and of all generated rows (the
    `sample_metrics` table holds each row's); nothing when none were measured."""
    published = metrics_by_mode(con, run_id, kept_only=True)
    generated = metrics_by_mode(con, run_id, kept_only=False)
    if not generated:
        return ""
    text = (
        "## Style metrics\n\n"
        "Medians per row; NLL and lengths as median (10th-90th percentile). TF-IDF: cosine "
        "of the thinking to the student-only thinking on the same prompt; NLL: the "
        "student's, per token of the assistant turn; tokens are the student's.\n\n"
        f"Rows to publish:\n\n{metrics_table(published)}\n"
        f"All generated rows:\n\n{metrics_table(generated)}\n"
    )
    config = json.loads(con.execute(sql("run_config"), [run_id]).fetchone()[0])
    repo_id = config["publish"]["repo_id"]
    versions = metrics_by_version(con, repo_id)
    if versions:
        text += f"Published versions of {repo_id}:\n\n{metrics_table(versions, versioned=True)}\n"
    return text


def metrics_table(groups: Sequence[dict], *, versioned: bool = False) -> str:
    """One line per group of `metrics_by_mode`, or of `metrics_by_version` (`versioned`)."""
    head = ["Version"] if versioned else []
    head += [
        "Mode",
        "Rows",
        "TF-IDF to student",
        "Student NLL / token",
        "Phrases / 1k tokens",
        "Teacher token share",
        "Switches",
        "Thinking tokens",
        "Answer tokens",
    ]
    labels = len(head) - 8  # version and mode, left-aligned; the numbers right-aligned
    align = "| --- " * labels + "| ---: " * 8 + "|"
    lines = ["| " + " | ".join(head) + " |", align]
    for group in groups:
        cells = [group["version"]] if versioned else []
        cells += [
            group["mode"],
            str(group["rows"]),
            _number(group["tfidf_to_student"], "{:.3f}"),
            _spread(group["student_nll"], "{:.3f}"),
            _number(group["phrase_per_1k_tokens"], "{:.1f}"),
            _number(group["teacher_token_share"], "{:.0%}"),
            _number(group["n_switches"], "{:.1f}"),
            _spread(group["thinking_tokens"], "{:.0f}"),
            _number(group["answer_tokens"], "{:.0f}"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _number(value: float | None, form: str) -> str:
    return "n/a" if value is None else form.format(value)


def _spread(quantiles: Sequence[float | None] | None, form: str) -> str:
    """`median (p10-p90)` of [p10, median, p90]."""
    if not quantiles or quantiles[1] is None:
        return "n/a"
    low, median, high = (form.format(q) for q in quantiles)
    return f"{median} ({low}-{high})"


def build_report(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    phrases: Sequence[str],
    quality_md: str,
    *,
    releasing: bool,
) -> str:
    """The whole report of a run as markdown.

    `releasing`: the report goes out with the release of the kept rows, so it counts them as
    published; otherwise published counts only what a release already holds.
    """
    counts = funnel(con, run_id)
    if releasing:
        counts["published"] = counts["kept"]
    return (
        f"# Build report: {run_id}\n\n"
        "## Drop funnel\n\n"
        f"{funnel_markdown(counts)}\n"
        f"{ledger_markdown(con, run_id)}"
        f"{excluded_markdown(con, run_id)}"
        f"{failures_markdown(con, run_id)}"
        f"{quarantine_markdown(con, run_id)}"
        "## Generation modes\n\n"
        "Pass rate counts every sample slot; style phrases are counted in the thinking of "
        "generated samples.\n\n"
        f"{modes_markdown(mode_figures(con, run_id, phrases))}\n"
        f"{style_metrics_markdown(con, run_id)}"
        f"{_probes_markdown(con, run_id)}"
        "## Quality gate (great-expectations)\n\n"
        f"{quality_md}"
        f"{config_markdown(con, run_id)}"
    )


def _probes_markdown(con: duckdb.DuckDBPyConnection, run_id: str) -> str:
    """The downstream probes of the dataset's versions probed so far (`tessy probe`);
    nothing for a run never recorded, or a dataset never probed."""
    recorded = con.execute(sql("run_config"), [run_id]).fetchone()
    if recorded is None:
        return ""
    return probe_markdown(con, json.loads(recorded[0])["publish"]["repo_id"])


def shared_config(stored: str) -> dict:
    """A run's stored config (JSON) as reports and cards show it: without `LOCAL_KEYS`."""
    return {key: value for key, value in json.loads(stored).items() if key not in LOCAL_KEYS}


def config_markdown(con: duckdb.DuckDBPyConnection, run_id: str) -> str:
    """The run's resolved config (its file with the overrides merged in), as YAML; nothing
    for rows of a run that was never recorded (loaded by hand, as a test does)."""
    recorded = con.execute(sql("run_config"), [run_id]).fetchone()
    if recorded is None:
        return ""
    resolved = yaml.safe_dump(shared_config(recorded[0]), sort_keys=False, allow_unicode=True)
    return f"\n## Config\n\nThe config this run resolved and recorded.\n\n```yaml\n{resolved}```\n"


def ledger_markdown(con: duckdb.DuckDBPyConnection, run_id: str) -> str:
    """The duplicates and contaminated rows dropped, and the rows flagged, per text and
    benchmark; nothing when there are none."""
    rows = con.execute(sql("ledger_summary"), {"run_id": run_id}).fetchall()
    if not rows:
        return ""
    lines = [
        "## Drop ledger",
        "",
        "Each row below is in the `curation` table with the row or evaluation item it "
        "matched; `sql/drop_ledger.sql` lists them.",
        "",
        "| Outcome | Text | Benchmark | Rows |",
        "| --- | --- | --- | ---: |",
        *(f"| {outcome} | {field or ''} | {bench} | {n} |" for outcome, field, bench, n in rows),
    ]
    return "\n".join(lines) + "\n\n"


def excluded_markdown(con: duckdb.DuckDBPyConnection, run_id: str) -> str:
    """The prompts the test-suite check excluded or could not check, and why; nothing when
    there are none."""
    rows = con.execute(sql("excluded_prompts"), [run_id]).fetchall()
    text = ""
    for status, heading in CHECK_HEADINGS.items():
        listed = [
            f"- {source} {where}: {reason}" for s, source, where, reason in rows if s == status
        ]
        if listed:
            text += "\n".join([heading, "", *listed]) + "\n\n"
    return text


def failures_markdown(con: duckdb.DuckDBPyConnection, run_id: str) -> str:
    """The reasons samples failed to generate, with counts, or nothing when none did."""
    rows = con.execute(
        sql("failure_reasons"), {"run_id": run_id, "limit": REASONS_SHOWN}
    ).fetchall()
    if not rows:
        return ""
    lines = ["Why samples failed to generate (samples: reason):", ""]
    lines += [f"- {samples}: {error}" for error, samples, _ in rows]
    if rows[0][2] > len(rows):
        lines.append(f"- ... and {rows[0][2] - len(rows)} other reasons")
    return "\n".join(lines) + "\n\n"


def quarantine_markdown(con: duckdb.DuckDBPyConnection, run_id: str) -> str:
    """How many source rows were quarantined for each kind of reason, and the first few, with
    where each is and why; nothing when no row was."""
    kinds = con.execute(sql("quarantine_kinds"), [run_id]).fetchall()
    if not kinds:
        return ""
    total = sum(n for _, n in kinds)
    rows = con.execute(
        sql("quarantine_first"), {"run_id": run_id, "limit": QUARANTINE_SHOWN}
    ).fetchall()
    lines = [
        "## Quarantined rows",
        "",
        f"Source rows quarantined: {total}; the `quarantine` table holds each with its raw row.",
        "",
        "| Reason | Rows |",
        "| --- | ---: |",
        *(f"| {markdown_cell(kind)} | {n} |" for kind, n in kinds),
        "",
        f"The first {len(rows)}, in source order:",
        "",
        "| Source | Where | Reason |",
        "| --- | --- | --- |",
        *(_quarantined_row(*row) for row in rows),
    ]
    if total > len(rows):
        lines += ["", f"... and {total - len(rows)} more."]
    return "\n".join(lines) + "\n\n"


def _quarantined_row(source: str, location: str | None, reason: str) -> str:
    # The reason opens with the location, shown apart; rows stored before locations were
    # recorded keep theirs in the reason.
    if location is not None:
        reason = reason.removeprefix(f"{location}: ")
    if len(reason) > REASON_CHARS:
        reason = reason[: REASON_CHARS - 1] + "…"
    cells = (source, location or "", reason)
    return "| " + " | ".join(markdown_cell(cell) for cell in cells) + " |"


def markdown_cell(text: str) -> str:
    """`text` safe in a markdown table cell: backslashes and pipes escaped, each line break
    as <br> (a bare one would end the table's row)."""
    escaped = text.replace("\\", "\\\\").replace("|", "\\|")
    return "<br>".join(escaped.splitlines())
