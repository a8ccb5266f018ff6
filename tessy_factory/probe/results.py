"""A probe's per-mode outcomes in DuckDB (`probe_results`), and the table shown in the
command's output, the build report and the dataset card."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb

from tessy_factory.db import sql
from tessy_factory.probe.config import BASELINE


@dataclass
class ModeOutcome:
    """How the student fine-tuned on one mode's rows (or the untrained one) did; a skipped
    mode has only its reason."""

    mode: str
    status: str = "done"
    reason: str | None = None
    train_rows: int | None = None
    rows_too_long: int | None = None
    problems: int | None = None
    samples: int | None = None
    generated: int | None = None
    accepted: int | None = None
    pass_at: dict[str, float] = field(default_factory=dict)
    phrase_per_1k_tokens: float | None = None
    student_nll: float | None = None
    train_loss: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    train_seconds: float | None = None
    eval_seconds: float | None = None
    checkpoint: str | None = None


@dataclass(frozen=True)
class ProbeKey:
    """Which probe of which version a row belongs to."""

    repo_id: str
    version: str
    probe_hash: str


def modes_done(con: duckdb.DuckDBPyConnection, key: ProbeKey) -> set[str]:
    """The modes this probe already finished on this version."""
    rows = con.execute(sql("probe_modes_done"), _key(key)).fetchall()
    return {mode for (mode,) in rows}


def store_outcome(
    con: duckdb.DuckDBPyConnection,
    key: ProbeKey,
    outcome: ModeOutcome,
    probe_name: str,
    student_model: str,
    config: dict,
) -> None:
    """Record one mode's outcome (replacing an earlier attempt's)."""
    values = {
        **_key(key),
        **{name: getattr(outcome, name) for name in _COLUMNS},
        "pass_at": json.dumps(outcome.pass_at),
        "train_loss": json.dumps(outcome.train_loss),
        "epoch_loss": json.dumps(outcome.epoch_loss),
        "probe_name": probe_name,
        "student_model": student_model,
        "config": json.dumps(config),
    }
    con.execute(sql("probe_result_upsert"), values)


_COLUMNS = (
    "mode",
    "status",
    "reason",
    "train_rows",
    "rows_too_long",
    "problems",
    "samples",
    "generated",
    "accepted",
    "phrase_per_1k_tokens",
    "student_nll",
    "train_seconds",
    "eval_seconds",
    "checkpoint",
)


def _key(key: ProbeKey) -> dict:
    return {"repo_id": key.repo_id, "version": key.version, "probe_hash": key.probe_hash}


def probe_rows(
    con: duckdb.DuckDBPyConnection,
    repo_id: str,
    version: str | None = None,
    probe_hash: str | None = None,
) -> list[dict]:
    """Per version of `repo_id` (one version's if given), the rows of one probe: the one
    `probe_hash` names, else the latest probe of that version (all its modes, no other's)."""
    cursor = con.execute(
        sql("probe_results_of"),
        {"repo_id": repo_id, "version": version, "probe_hash": probe_hash},
    )
    names = [column[0] for column in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        row["pass_at"] = json.loads(row["pass_at"]) if row["pass_at"] else {}
        row["epoch_loss"] = json.loads(row["epoch_loss"]) if row["epoch_loss"] else []
    return rows


def probe_ks(rows: Sequence[dict]) -> list[str]:
    """The k of every pass@k the probe rows report, in order."""
    return sorted({k for row in rows for k in row["pass_at"]}, key=int)


def probe_table(rows: Sequence[dict], *, versioned: bool = False) -> str:
    """The probe's table in markdown: one line per mode (and version)."""
    ks = probe_ks(rows)
    head = (["Version"] if versioned else []) + ["Student fine-tuned on", "Rows"]
    head += [f"pass@{k}" for k in ks]
    head += ["Phrases / 1k tokens", "Untrained student's NLL / token", "Loss by epoch"]
    head += ["Train s", "Eval s"]
    labels = 3 if versioned else 2
    lines = [
        "| " + " | ".join(head) + " |",
        "| --- " * labels + "| ---: " * (len(head) - labels) + "|",
    ]
    for row in rows:
        cells = [row["version"]] if versioned else []
        mode = row["mode"] + (" (baseline)" if row["mode"] == BASELINE else "")
        if row["status"] != "done":
            cells += [mode, f"skipped: {row['reason']}"] + [""] * (len(head) - len(cells) - 2)
            lines.append("| " + " | ".join(cells) + " |")
            continue
        cells += [mode, "" if row["train_rows"] is None else str(row["train_rows"])]
        cells += [_figure(row["pass_at"].get(k), "{:.3f}") for k in ks]
        cells += [
            _figure(row["phrase_per_1k_tokens"], "{:.1f}"),
            _figure(row["student_nll"], "{:.3f}"),
            " → ".join(f"{loss:.3f}" for loss in row["epoch_loss"]),
            _figure(row["train_seconds"], "{:.0f}"),
            _figure(row["eval_seconds"], "{:.0f}"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _figure(value: float | None, form: str) -> str:
    return "" if value is None else form.format(value)


def probe_markdown(con: duckdb.DuckDBPyConnection, repo_id: str) -> str:
    """The report's and card's section on the downstream probes of `repo_id`'s versions;
    nothing when no version was probed."""
    rows = probe_rows(con, repo_id)
    if not rows:
        return ""
    return (
        "## Downstream probe\n\n"
        f"A fresh copy of the student fine-tuned on each mode's rows of a version of "
        f"{repo_id}, then answering held-out problems alone, judged by the factory's "
        "verifier (`tessy probe`). Phrases: style phrases per 1k thinking tokens of its "
        "answers; NLL: the untrained student's, per token of its answers.\n\n"
        f"{probe_table(rows, versioned=True)}\n"
    )
