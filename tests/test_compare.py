"""The output comparison against the rules of the default output validator as the problem
package format documents them (Kattis/problemtools "Default Output Validator Specification"):

- the outputs are compared token by token; tokens are separated by whitespace;
- case_sensitive: comparisons are case-sensitive (by default they are not);
- space_change_sensitive: changes in the amount of whitespace are rejected (by default any
  sequence of one or more whitespace characters is equivalent);
- float_absolute_tolerance ε: a floating-point token is accepted within absolute error ε,
  |got - judge| <= ε;
- float_relative_tolerance ε: accepted within relative error ε, relative to the judge's
  value: |got - judge| <= ε |judge|;
- float_tolerance ε: ε as both; with both, a token is accepted within either;
- with a tolerance, any valid formatting of a number is accepted (answer 0.0314, output
  3.14000000e-2); without one, numbers are tokens like any other and must match exactly.

Plus this factory's own rule: outputs are bytes, and two different invalid UTF-8 sequences
are different output.
"""

from __future__ import annotations

import pytest

from tessy_factory.config import OutputComparison
from tessy_factory.verify.compare import outputs_match

CASE = {"case_sensitive": True}
SPACE = {"space_change_sensitive": True}
ABS = {"float_absolute_tolerance": 1e-3}
REL = {"float_relative_tolerance": 0.1}
BOTH = {"float_absolute_tolerance": 0.5, "float_relative_tolerance": 0.01}

# (flags, judge's answer, program's output, accepted)
RULES = {
    # Tokens and whitespace, by default.
    "any whitespace run equals any other": ({}, b"1 2\n3\n", b"1  2\t3", True),
    "leading and trailing whitespace are free": ({}, b"1 2\n", b"\n\n 1 2", True),
    "no tokens equals only whitespace": ({}, b"", b" \n\t\n", True),
    "one token more": ({}, b"1 2", b"1 2 3", False),
    "one token fewer": ({}, b"1 2 3", b"1 2", False),
    "tokens are not joined across whitespace": ({}, b"12", b"1 2", False),
    "order matters": ({}, b"1 2", b"2 1", False),
    # Case.
    "case is ignored by default": ({}, b"Yes", b"YES", True),
    "case_sensitive rejects another case": (CASE, b"Yes", b"YES", False),
    "case_sensitive accepts the same case": (CASE, b"Yes\n", b"Yes\n", True),
    # Whitespace changes.
    "space_change_sensitive: more spaces": (SPACE, b"1 2\n", b"1  2\n", False),
    "space_change_sensitive: a tab for a space": (SPACE, b"1 2\n", b"1\t2\n", False),
    "space_change_sensitive: no final newline": (SPACE, b"1 2\n", b"1 2", False),
    "space_change_sensitive: a leading space": (SPACE, b"1 2\n", b" 1 2\n", False),
    "space_change_sensitive: the same whitespace": (SPACE, b"1 2\n3\n", b"1 2\n3\n", True),
    "space_change_sensitive still ignores case": (SPACE, b"a b\n", b"A B\n", True),
    # Numbers without a tolerance are plain tokens.
    "no tolerance: more digits": ({}, b"0.3333", b"0.33333333", False),
    "no tolerance: 1.0 is not 1": ({}, b"1.0", b"1", False),
    "no tolerance: another notation": ({}, b"0.0314", b"3.14000000e-2", False),
    # Absolute tolerance.
    "absolute: within": (ABS, b"0.3333", b"0.33333333", True),
    "absolute: negative numbers": (ABS, b"-2.5", b"-2.5004", True),
    "absolute: just outside": (ABS, b"1.5", b"1.502", False),
    "absolute: the bound itself is within": (
        {"float_absolute_tolerance": 0.5},
        b"1.0",
        b"1.5",
        True,
    ),
    "absolute: integers are numbers too": (ABS, b"3", b"3.0004", True),
    # Relative tolerance, relative to the judge's value.
    "relative: within 10% of 100": (REL, b"100", b"109", True),
    "relative: 10.5 off 100 is over 10% of 100": (REL, b"100", b"110.5", False),
    "relative: 10.5 off 110.5 is within 10% of 110.5": (REL, b"110.5", b"100", True),
    "relative: the bound itself is within": (
        {"float_relative_tolerance": 0.125},
        b"8",
        b"9",
        True,
    ),
    "relative: judge 0 accepts only 0": (REL, b"0", b"1e-12", False),
    "relative: judge 0 accepts 0.0": (REL, b"0", b"0.0", True),
    # Both: either suffices.
    "both: only the relative one holds": (BOTH, b"1000", b"1005", True),
    "both: only the absolute one holds": (BOTH, b"1", b"1.3", True),
    "both: neither holds": (BOTH, b"1000", b"1011", False),
    "float_tolerance sets the relative one": (
        {"float_tolerance": 1e-6},
        b"1000000000",
        b"1000000500",
        True,
    ),
    "float_tolerance sets the absolute one": ({"float_tolerance": 1e-6}, b"0", b"1e-7", True),
    "float_tolerance: outside both": ({"float_tolerance": 1e-6}, b"1", b"1.00001", False),
    # Any notation of a number, with a tolerance.
    "tolerance: the documented notation": ({"float_tolerance": 1e-9}, b"0.0314", b"3.14e-2", True),
    "tolerance: an upper-case exponent": (ABS, b"1500", b"1.5E3", True),
    "tolerance: a leading plus": (ABS, b"2", b"+2", True),
    # Tokens that are not numbers compare as strings, tolerance or not.
    "tolerance: words differ": ({"float_absolute_tolerance": 1.0}, b"abc", b"abd", False),
    "tolerance: words equal but for case": (ABS, b"abc", b"ABC", True),
    "tolerance: a number for a word": ({"float_absolute_tolerance": 1.0}, b"one", b"1", False),
    "tolerance: a word for a number": ({"float_absolute_tolerance": 1.0}, b"1", b"one", False),
    "tolerance: a number inside a word": (ABS, b"x1", b"x1.0001", False),
    "tolerance: nan is a word": (ABS, b"nan", b"NaN", True),
    "tolerance: inf is not a number": ({"float_absolute_tolerance": 1e300}, b"inf", b"1", False),
    # Bytes, not text.
    "different invalid bytes differ": ({}, b"\xff\n", b"\xfe\n", False),
    "an invalid byte is not U+FFFD": ({}, "\ufffd".encode(), b"\xff", False),
    "the same invalid bytes match": ({}, b"a\xff", b"A\xff", True),
    "non-ASCII letters keep their case": ({}, "É".encode(), "é".encode(), False),
}


@pytest.mark.parametrize(("flags", "judge", "output", "accepted"), RULES.values(), ids=RULES)
def test_the_documented_rules(flags: dict, judge: bytes, output: bytes, accepted: bool) -> None:
    assert outputs_match(judge, output, OutputComparison(**flags)) is accepted


def test_a_layers_float_tolerance_overrides_a_specific_tolerance_below_it() -> None:
    below = OutputComparison(float_absolute_tolerance=1e-3)
    above = below.overridden_by(OutputComparison(float_tolerance=1e-6).given())
    assert (above.float_absolute_tolerance, above.float_relative_tolerance) == (1e-6, 1e-6)
    # In one layer, a tolerance given beside float_tolerance wins over it.
    both = OutputComparison(float_tolerance=1e-6, float_absolute_tolerance=1e-3)
    assert (both.float_absolute_tolerance, both.float_relative_tolerance) == (1e-3, 1e-6)
