"""Compare a program's output with the expected output, as `verification.comparison` says."""

from __future__ import annotations

import math

from tessy_factory.config import OutputComparison


def outputs_match(expected: str, got: str, comparison: OutputComparison) -> bool:
    """Whether `got` counts as the expected output."""
    if comparison.ignore_case:
        expected, got = expected.casefold(), got.casefold()
    if comparison.mode == "exact":
        return expected == got
    want, have = expected.split(), got.split()
    return len(want) == len(have) and all(
        a == b or _numbers_close(a, b, comparison) for a, b in zip(want, have, strict=True)
    )


def _numbers_close(a: str, b: str, comparison: OutputComparison) -> bool:
    if comparison.float_abs_tol is None and comparison.float_rel_tol is None:
        return False
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return math.isclose(
        x, y, rel_tol=comparison.float_rel_tol or 0.0, abs_tol=comparison.float_abs_tol or 0.0
    )
