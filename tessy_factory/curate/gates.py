"""The gates of `curation.gates`, as great-expectations expectations checked like the quality
gate's: on the median of a style metric over the rows to publish, and on the run's drop
ledger (its near-duplicate rate and contaminated rows, one row of counts)."""

from __future__ import annotations

from dataclasses import dataclass

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd

from tessy_factory.config import GatesConfig
from tessy_factory.curate.quality import QualityResult, validate

BOUND_WORDS = {"max_value": "at most", "min_value": "at least"}


@dataclass(frozen=True)
class Gate:
    """What one key of `GatesConfig` expects: `expectation` on `column`, the key's value as
    its `bound`; `what` names the checked value in the report."""

    expectation: type[gxe.Expectation]
    column: str
    bound: str
    what: str


def _median(column: str, bound: str) -> Gate:
    return Gate(gxe.ExpectColumnMedianToBeBetween, column, bound, f"median {column}")


# Gates on the style metrics of the rows to publish (`metrics_summary.published_metrics`).
METRIC_GATES = {
    "max_median_student_nll": _median("student_nll", "max_value"),
    "min_median_tfidf_to_student": _median("tfidf_to_student", "min_value"),
    "min_median_phrase_per_1k_tokens": _median("phrase_per_1k_tokens", "min_value"),
    "max_median_thinking_tokens": _median("thinking_tokens", "max_value"),
}
# Gates on the run's drop ledger (`ledger.gate_counts`, one row): `GatesConfig.LEDGER_KEYS`.
LEDGER_GATES = {
    "max_near_duplicate_rate": Gate(
        gxe.ExpectColumnMaxToBeBetween, "near_duplicate_rate", "max_value", "near-duplicate rate"
    ),
    "max_contaminated_rows": Gate(
        gxe.ExpectColumnMaxToBeBetween, "contaminated_rows", "max_value", "contaminated rows"
    ),
}


def check_gates(metrics: pd.DataFrame, gates: GatesConfig) -> QualityResult:
    """Check each metric gate that is set on `metrics`, the rows to publish of `gates.mode`
    (a median over no value fails its gate); passes when no gate is set."""
    rows = f"{gates.mode} rows" if gates.mode else "rows"
    return _check(metrics, gates, METRIC_GATES, rows)


def check_ledger_gates(counts: pd.DataFrame, gates: GatesConfig) -> QualityResult:
    """Check each ledger gate that is set on `counts`, the run's ledger counts; passes when
    no gate is set."""
    return _check(counts, gates, LEDGER_GATES, "this run")


def _check(
    frame: pd.DataFrame, gates: GatesConfig, table: dict[str, Gate], subject: str
) -> QualityResult:
    expectations = []
    for name, gate in table.items():
        limit = getattr(gates, name)
        if limit is None:
            continue
        expectations.append(
            gate.expectation(
                column=gate.column,
                **{gate.bound: limit},
                description=f"{subject}: {gate.what} {BOUND_WORDS[gate.bound]} {limit} "
                f"(curation.gates.{name})",
            )
        )
    if not expectations:
        return QualityResult(success=True, results=[])
    return validate(frame, gx.ExpectationSuite(name="gates", expectations=expectations))
