"""Compare a program's output with the expected output as the standard judges' default output
validator does (problemtools), under the flags of `OutputComparison`.

Outputs are compared as bytes, so two different invalid UTF-8 sequences differ. Both are cut
into tokens at ASCII whitespace; tokens match when equal, ignoring the case of ASCII letters
unless `case_sensitive`. With `space_change_sensitive` the whitespace between, before and after
the tokens must be the same too. With a float tolerance, an expected token that is a number
also accepts a number (in any notation) within the absolute tolerance of it, or within the
relative tolerance times the expected value; either suffices.
"""

from __future__ import annotations

import re

from tessy_factory.config import OutputComparison

# The whitespace of bytes.split(); the group keeps the whitespace between the tokens.
WHITESPACE = re.compile(rb"([ \t\n\r\x0b\x0c]+)")
# A decimal number, as printed by the common languages; not inf, nan or 1_000.
NUMBER = re.compile(rb"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def outputs_match(expected: bytes, got: bytes, comparison: OutputComparison) -> bool:
    """Whether `got` counts as the expected output."""
    want, have = _pieces(expected, comparison), _pieces(got, comparison)
    return len(want) == len(have) and all(
        _token_matches(a, b, comparison) for a, b in zip(want, have, strict=True)
    )


def _pieces(output: bytes, comparison: OutputComparison) -> list[bytes]:
    if comparison.space_change_sensitive:
        # Tokens and whitespace alternate (empty tokens at the ends); whitespace only ever
        # matches itself below, as it is never a number.
        return WHITESPACE.split(output)
    return output.split()


def _token_matches(want: bytes, have: bytes, comparison: OutputComparison) -> bool:
    if not comparison.case_sensitive:
        want, have = want.lower(), have.lower()
    return want == have or _numbers_close(want, have, comparison)


def _numbers_close(want: bytes, have: bytes, comparison: OutputComparison) -> bool:
    absolute = comparison.float_absolute_tolerance
    relative = comparison.float_relative_tolerance
    if absolute is None and relative is None:
        return False
    if not (NUMBER.fullmatch(want) and NUMBER.fullmatch(have)):
        return False
    expected = float(want)
    error = abs(float(have) - expected)
    # Relative to the expected (the judge's) value, not to the larger of the two.
    return (absolute is not None and error <= absolute) or (
        relative is not None and error <= relative * abs(expected)
    )
