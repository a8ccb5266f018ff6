"""Gates on the style metrics of the rows to publish (`curation.gates`), as great-expectations
expectations on the median of a metric column, checked like the quality gate's."""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd

from tessy_factory.config import GatesConfig
from tessy_factory.curate.quality import QualityResult, validate

# Each gate of `GatesConfig`: the metric column it bounds, and which bound it sets.
GATES = {
    "max_median_student_nll": ("student_nll", "max_value"),
    "min_median_tfidf_to_student": ("tfidf_to_student", "min_value"),
    "min_median_phrase_per_1k_tokens": ("phrase_per_1k_tokens", "min_value"),
    "max_median_thinking_tokens": ("thinking_tokens", "max_value"),
}
BOUND_WORDS = {"max_value": "at most", "min_value": "at least"}


def check_gates(metrics: pd.DataFrame, gates: GatesConfig) -> QualityResult:
    """Check each gate that is set on `metrics`, the rows to publish of `gates.mode` (a
    median over no value fails its gate); passes when no gate is set."""
    rows = f"{gates.mode} rows" if gates.mode else "rows"
    expectations = []
    for name, (column, bound) in GATES.items():
        limit = getattr(gates, name)
        if limit is None:
            continue
        expectations.append(
            gxe.ExpectColumnMedianToBeBetween(
                column=column,
                **{bound: limit},
                description=f"{rows}: median {column} {BOUND_WORDS[bound]} {limit} "
                f"(curation.gates.{name})",
            )
        )
    if not expectations:
        return QualityResult(success=True, results=[])
    return validate(metrics, gx.ExpectationSuite(name="style_gates", expectations=expectations))
