"""Turn one raw source row into a normalised prompt, or into a rejection with a reason.

Pure functions, no database: the text is normalised (Unicode NFC, LF line ends, no trailing
spaces, no leading/trailing blank lines) and hashed into `prompt_id`, so the same problem
gets the same id whatever file or platform it came from. Tests are validated strictly and
rewritten into one canonical shape per style:

    {"style": "stdio", "cases": [{"input": str, "output": str}, ...], "comparison": {...}}
    {"style": "assert", "entry_point": str, "code": str, "prelude": str}

An assert problem's "prelude" (only there when set) is trusted code the tests run before
their own: the helpers they call besides the entry point, such as the functions a HumanEval
prompt gives (`poly`, `encode_cyclic`). The program's own definitions never stand in for
them, so a program cannot judge itself with a helper of its own.

A stdio problem's "comparison" (only there when set) holds the output comparison flags it
gives itself, over its source's (see `OutputComparison`): only the flags given, so that the
build's `verification.comparison` fills in the rest when it is judged.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import unicodedata
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tessy_factory.config import OutputComparison, describe_errors
from tessy_factory.sources.readers import RawRow, RowProblem, exception_reason

# The kinds of problem a row's fields can have (see `RowProblem`).
BAD_TEXT, BAD_TESTS, BAD_REFERENCE = "invalid text", "invalid tests", "invalid reference"


@dataclass(frozen=True)
class Prompt:
    """A normalised source row, a candidate for the `prompts` table: a row of
    `prompt_candidates` before its load position and check. `location` is the row's `where`,
    `raw` its text as read (kept for its quarantine record, should it be a duplicate)."""

    prompt_id: str
    text: str
    tests: dict[str, Any]
    reference: str | None
    source: str
    source_row: int
    location: str
    license: str
    raw: str | None


@dataclass(frozen=True)
class Rejected:
    """A row of the `quarantine` table (without the run id): `reason` is the problem's
    message after the row's `location` ("line 8: missing text"), `kind` the problem's kind."""

    source: str
    source_row: int
    location: str
    kind: str
    reason: str
    raw: str | None


class InvalidTestsError(ValueError):
    """The tests of a row do not have an accepted shape; the message says what is wrong."""


class _RowProblem(ValueError):
    """Why a row cannot become a prompt; becomes its quarantine reason."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.problem = RowProblem(kind, message)


def normalise_text(text: str) -> str:
    """Canonical form of a prompt text, the input of `prompt_id`."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    return "\n".join(lines).strip("\n")


def prompt_id(normalised_text: str) -> str:
    """First 16 hex digits of the SHA-256 of the normalised text."""
    return hashlib.sha256(normalised_text.encode("utf-8")).hexdigest()[:16]


def normalise_tests(value: Any) -> dict[str, Any]:
    """Validate tests given as a JSON string, a dict or a bare list of stdio cases."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except Exception as exc:
            # As for a JSONL line: deep nesting or a huge integer break the parser too.
            reason = exception_reason(exc, json.JSONDecodeError)
            raise InvalidTestsError(f"not valid JSON: {reason}") from exc
    if isinstance(value, list):
        value = {"style": "stdio", "cases": value}
    if not isinstance(value, dict):
        raise InvalidTestsError(f"expected an object or a list of cases, got {_type_name(value)}")
    value = _present(value)
    style = value.get("style")
    if style == "stdio":
        return _stdio_tests(value)
    if style == "assert":
        return _assert_tests(value)
    if style is None:
        raise InvalidTestsError("no 'style'")
    raise InvalidTestsError(f"unknown style {style!r}")


def _stdio_tests(value: dict[str, Any]) -> dict[str, Any]:
    _reject_extra_keys(value, {"style", "cases", "comparison"})
    cases = value.get("cases")
    if not isinstance(cases, list) or not cases:
        raise InvalidTestsError("stdio tests need a non-empty list 'cases'")
    tests = {"style": "stdio", "cases": [_stdio_case(n, case) for n, case in enumerate(cases, 1)]}
    return _with_comparison(tests, _comparison_flags(value.get("comparison")))


def _comparison_flags(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidTestsError(f"'comparison' is not an object (got {_type_name(value)})")
    try:
        return OutputComparison.model_validate(_present(value)).given()
    except ValidationError as exc:
        raise InvalidTestsError(f"comparison: {describe_errors(exc)}") from exc


def _with_comparison(tests: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    return {**tests, "comparison": flags} if flags else tests


def with_source_comparison(
    tests: dict[str, Any], comparison: OutputComparison | None
) -> dict[str, Any]:
    """Canonical tests with their source's comparison flags under their own (a problem's
    flag wins); assert tests have no output to compare and stay as they are."""
    if comparison is None or tests["style"] != "stdio":
        return tests
    flags = comparison.overridden_by(tests.get("comparison", {})).given()
    return _with_comparison(tests, flags)


def _stdio_case(number: int, case: Any) -> dict[str, str]:
    if not isinstance(case, dict):
        raise InvalidTestsError(f"case {number} is not an object (got {_type_name(case)})")
    case = _present(case)
    for key in ("input", "output"):
        if key not in case:
            raise InvalidTestsError(f"case {number} has no {key!r}")
        if not isinstance(case[key], str):
            raise InvalidTestsError(
                f"case {number} {key!r} is not a string (got {_type_name(case[key])})"
            )
        if (at := _lone_surrogate(case[key])) is not None:
            raise InvalidTestsError(f"case {number} {key!r} is not valid Unicode: {at}")
    extra = sorted(set(case) - {"input", "output"})
    if extra:
        raise InvalidTestsError(f"case {number} has unexpected keys {extra}")
    return {"input": case["input"], "output": case["output"]}


def _assert_tests(value: dict[str, Any]) -> dict[str, Any]:
    _reject_extra_keys(value, {"style", "entry_point", "code", "prelude"})
    entry_point = value.get("entry_point")
    if not isinstance(entry_point, str) or not entry_point.isidentifier():
        raise InvalidTestsError(f"entry_point must be a Python identifier, got {entry_point!r}")
    if keyword.iskeyword(entry_point):
        raise InvalidTestsError(f"entry_point {entry_point!r} is a Python keyword")
    code = value.get("code")
    if not isinstance(code, str) or not code.strip():
        raise InvalidTestsError("assert tests need non-empty 'code'")
    _compiles(code, "assert test code")
    tests = {"style": "assert", "entry_point": entry_point, "code": code}
    prelude = value.get("prelude")
    if prelude is not None:
        if not isinstance(prelude, str):
            raise InvalidTestsError(f"'prelude' is not a string (got {_type_name(prelude)})")
        _compiles(prelude, "the prelude")
        tests["prelude"] = prelude
    return tests


def _compiles(code: str, what: str) -> None:
    try:
        compile(code, "tests", "exec")
    except Exception as exc:
        # Code nested too deep makes the compiler raise MemoryError or RecursionError.
        reason = exception_reason(exc, SyntaxError, ValueError)
        raise InvalidTestsError(f"{what} does not compile: {reason}") from exc


def _reject_extra_keys(value: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(value) - allowed)
    if extra:
        raise InvalidTestsError(f"unexpected keys {extra}")


def _present(value: dict[str, Any]) -> dict[str, Any]:
    # Columnar sources (Parquet, Arrow-backed datasets, DuckDB structs) store one struct type
    # for the whole column and fill the keys a row lacks with null: null means absent.
    return {key: item for key, item in value.items() if item is not None}


def _lone_surrogate(value: str) -> str | None:
    """Where `value` holds a lone surrogate (JSON's "\\ud800" escape decodes to one), which
    no UTF-8 column can store; None when it holds none."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"a lone surrogate at character {exc.start}"
    return None


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def normalise(
    raw: RawRow, license: str, comparison: OutputComparison | None = None
) -> Prompt | Rejected:
    """A prompt candidate ready for `prompt_candidates`, or the row's quarantine record;
    `comparison` is the source's comparison flags."""
    if raw.problem is not None:
        return _reject(raw, raw.problem)
    try:
        return _prompt(raw, license, comparison)
    except _RowProblem as exc:
        return _reject(raw, exc.problem)


def _reject(raw: RawRow, problem: RowProblem) -> Rejected:
    """A quarantine row for `raw`, its reason prefixed with where the row is (line or row)."""
    reason = f"{raw.where}: {problem.message}"
    return Rejected(raw.source, raw.row, raw.where, problem.kind, reason, _as_read(raw))


def _as_read(raw: RawRow) -> str | None:
    """The row as text for its quarantine record: its original text, else its fields as JSON
    where they can be, else as Python shows them (a DuckDB MAP arrives as a dict whose keys,
    decimals or dates, JSON lacks)."""
    if raw.raw is not None or raw.fields is None:
        return raw.raw
    try:
        return json.dumps(raw.fields, ensure_ascii=False, default=str)
    except TypeError:
        return repr(raw.fields)


def _prompt(raw: RawRow, license: str, comparison: OutputComparison | None) -> Prompt:
    fields = raw.fields or {}
    text = fields.get("text")
    if text is None:
        raise _RowProblem(BAD_TEXT, "missing text")
    if not isinstance(text, str):
        raise _RowProblem(BAD_TEXT, f"text is not a string (got {_type_name(text)})")
    if (at := _lone_surrogate(text)) is not None:
        raise _RowProblem(BAD_TEXT, f"text is not valid Unicode: {at}")
    text = normalise_text(text)
    if not text:
        raise _RowProblem(BAD_TEXT, "text is empty")
    if fields.get("tests") is None:
        raise _RowProblem(BAD_TESTS, "missing tests")
    try:
        tests = with_source_comparison(normalise_tests(fields["tests"]), comparison)
    except InvalidTestsError as exc:
        raise _RowProblem(BAD_TESTS, f"tests: {exc}") from exc
    reference = fields.get("reference")
    if reference is not None and not isinstance(reference, str):
        message = f"reference is not a string (got {_type_name(reference)})"
        raise _RowProblem(BAD_REFERENCE, message)
    if reference is not None and (at := _lone_surrogate(reference)) is not None:
        raise _RowProblem(BAD_REFERENCE, f"reference is not valid Unicode: {at}")
    return Prompt(
        prompt_id(text),
        text,
        tests,
        reference,
        raw.source,
        raw.row,
        raw.where,
        license,
        _as_read(raw),
    )
