"""Figures as people read them: rounded to a few significant digits, for log lines and
Prefect artifacts (the database and metrics.json keep full precision)."""

from __future__ import annotations

from collections.abc import Mapping

# Significant digits: enough to tell runs apart, few enough to read at a glance. Significant
# digits, not decimal places: a learning rate of 1e-05 rounded to 4 places reads 0.
SIGNIFICANT = 4


def rounded(value: float) -> float:
    """`value` to SIGNIFICANT digits: 0.979591836 -> 0.9796, 1.1111e-05 -> 1.111e-05."""
    return float(f"{value:.{SIGNIFICANT}g}")


def rounded_values(figures: Mapping[str, object]) -> dict[str, object]:
    """`figures` with each float rounded; counts and labels as they are."""
    return {
        name: rounded(value) if isinstance(value, float) else value
        for name, value in figures.items()
    }


def figures_line(figures: Mapping[str, object]) -> str:
    """`name value, ...` for a log line, each float rounded: `loss 0.0108, epoch 3`."""
    return ", ".join(
        f"{name} {value:.{SIGNIFICANT}g}" if isinstance(value, float) else f"{name} {value}"
        for name, value in figures.items()
    )
