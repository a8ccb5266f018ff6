"""Judge a generated sample: extract its program, run it against the prompt's tests, give a verdict.

Tests come in two styles (a JSON-able dict per prompt):
    {"style": "stdio", "cases": [{"input": "...", "output": "..."}, ...]}
    {"style": "assert", "entry_point": "name", "code": "def check(candidate): ..."}
A stdio case passes when stdout equals the expected output token by token (whitespace-split).
An assert test runs program + test code + `check(entry_point)` once and passes when it exits
cleanly. Failures of the judge itself (the sandbox cannot start) are `sandbox_error`, never
blamed on the sample.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, ValidationError, model_validator

from tessy_factory.config import Strict, describe_errors
from tessy_factory.verify.extract import extract_program
from tessy_factory.verify.runner import Limits, RunResult, run_program

PREVIEW_CHARS = 60
# A program killed by one of these signals while near its address-space limit most likely
# failed to allocate (C code that aborts or crashes instead of raising MemoryError).
ALLOCATION_FAILURE_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGKILL}
NEAR_MEMORY_LIMIT = 0.8


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    WRONG_ANSWER = "wrong_answer"
    TIME_LIMIT = "time_limit"
    MEMORY_LIMIT = "memory_limit"
    RUNTIME_ERROR = "runtime_error"
    SYNTAX_ERROR = "syntax_error"
    OUTPUT_LIMIT = "output_limit"
    NO_CODE = "no_code"
    SANDBOX_ERROR = "sandbox_error"


@dataclass(frozen=True)
class Judgement:
    """The verdict on one sample; `detail` names the first failing case and why."""

    verdict: Verdict
    tests_passed: int
    tests_total: int
    detail: str
    seconds: float


class StdioCase(Strict):
    input: str
    output: str


class StdioTests(Strict):
    style: Literal["stdio"]
    cases: list[StdioCase] = Field(min_length=1)


class AssertTests(Strict):
    style: Literal["assert"]
    entry_point: str = Field(pattern=r"^[A-Za-z_]\w*$")
    code: str = Field(min_length=1)

    @model_validator(mode="after")
    def _code_compiles(self) -> AssertTests:
        try:
            compile(self.code, "<tests>", "exec")
        except SyntaxError as exc:
            raise ValueError(f"does not compile: line {exc.lineno}: {exc.msg}") from exc
        return self


_TESTS = TypeAdapter(Annotated[StdioTests | AssertTests, Field(discriminator="style")])


def parse_tests(tests: dict) -> StdioTests | AssertTests:
    """Validate a tests dict; ValueError naming the field and the problem when it is unusable."""
    try:
        return _TESTS.validate_python(tests)
    except ValidationError as exc:
        raise ValueError(f"tests: {describe_errors(exc)}") from exc


def judge(
    text: str, tests: dict, limits: Limits, *, stop_at_first_failure: bool = True
) -> Judgement:
    """Judge one generated sample (`<think>...</think>` then the answer) against `tests`."""
    started = time.monotonic()
    try:
        parsed = parse_tests(tests)
    except ValueError as exc:
        # Unusable tests are the prompt's fault, never the sample's: the judge cannot judge.
        return Judgement(Verdict.SANDBOX_ERROR, 0, 0, str(exc), time.monotonic() - started)
    total = len(parsed.cases) if isinstance(parsed, StdioTests) else 1
    program = extract_program(text)
    if program is None:
        verdict, passed, detail = Verdict.NO_CODE, 0, "no python code block after </think>"
    elif (problem := _syntax_problem(program)) is not None:
        verdict, passed, detail = Verdict.SYNTAX_ERROR, 0, problem
    else:
        try:
            if isinstance(parsed, StdioTests):
                verdict, passed, detail = _judge_stdio(
                    program, parsed, limits, stop_at_first_failure
                )
            else:
                verdict, passed, detail = _judge_assert(program, parsed, limits)
        except OSError as exc:
            verdict, passed, detail = Verdict.SANDBOX_ERROR, 0, f"could not run the program: {exc}"
    return Judgement(verdict, passed, total, detail, time.monotonic() - started)


def judge_many(items: list[tuple[str, dict]], limits: Limits, workers: int) -> list[Judgement]:
    """Judge (text, tests) pairs in parallel, in order; `workers=0` means one per CPU core."""
    if workers < 0:
        raise ValueError(f"workers must be 0 (one per CPU core) or more, got {workers}")
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        return list(pool.map(lambda item: judge(item[0], item[1], limits), items))


def _syntax_problem(program: str) -> str | None:
    try:
        compile(program, "main.py", "exec")
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:
        # Null bytes, or nesting too deep for the compiler.
        return f"cannot compile: {exc}"
    return None


def _judge_stdio(
    program: str, tests: StdioTests, limits: Limits, stop_at_first_failure: bool
) -> tuple[Verdict, int, str]:
    passed, first_failure = 0, None
    for number, case in enumerate(tests.cases, start=1):
        result = run_program(program, case.input, limits)
        failure = _run_failure(result, limits)
        if failure is None and case.output.split() != result.stdout.split():
            expected, got = _preview(case.output), _preview(result.stdout)
            failure = Verdict.WRONG_ANSWER, f"expected {expected}, got {got}"
        if failure is None:
            passed += 1
            continue
        if first_failure is None:
            first_failure = failure[0], f"case {number}: {failure[1]}"
        if stop_at_first_failure:
            break
    if first_failure is None:
        return Verdict.ACCEPTED, passed, f"all {passed} cases passed"
    return first_failure[0], passed, first_failure[1]


def _judge_assert(program: str, tests: AssertTests, limits: Limits) -> tuple[Verdict, int, str]:
    # A program that exits early (e.g. `sys.exit(main())`) exits cleanly without running the
    # check, so success is a fresh marker printed after the check, not the exit code.
    marker = f"check passed {secrets.token_hex(8)}"
    combined = f"{program}\n\n{tests.code}\n\ncheck({tests.entry_point})\nprint({marker!r})\n"
    result = run_program(combined, "", limits)
    failure = _run_failure(result, limits)
    if failure is None:
        if _last_line(result.stdout) == marker:
            return Verdict.ACCEPTED, 1, "check passed"
        return Verdict.WRONG_ANSWER, 0, "check: the program exited before the check ran"
    verdict, why = failure
    if verdict is Verdict.RUNTIME_ERROR and _last_line(result.stderr_tail).startswith(
        "AssertionError"
    ):
        verdict = Verdict.WRONG_ANSWER
    return verdict, 0, f"check: {why}"


def _run_failure(result: RunResult, limits: Limits) -> tuple[Verdict, str] | None:
    """The verdict and reason when a run failed on its own terms (before comparing output)."""
    if result.output_limited or result.signal == signal.SIGXFSZ:
        return Verdict.OUTPUT_LIMIT, f"output over {limits.output_limit_bytes} bytes or file limit"
    if result.timed_out or result.signal == signal.SIGXCPU:
        return Verdict.TIME_LIMIT, f"ran past {limits.time_limit_s:g} s"
    if _out_of_memory(result, limits):
        return Verdict.MEMORY_LIMIT, f"ran out of its {limits.memory_mb} MB"
    if result.signal is not None:
        return Verdict.RUNTIME_ERROR, f"killed by {signal.Signals(result.signal).name}"
    if result.exit_code != 0:
        last = _preview(_last_line(result.stderr_tail))
        return Verdict.RUNTIME_ERROR, f"exit code {result.exit_code}: {last}"
    return None


def _out_of_memory(result: RunResult, limits: Limits) -> bool:
    if _last_line(result.stderr_tail).startswith("MemoryError"):
        return True
    return (
        result.signal in ALLOCATION_FAILURE_SIGNALS
        and result.peak_memory_mb is not None
        and result.peak_memory_mb >= NEAR_MEMORY_LIMIT * limits.memory_mb
    )


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def _preview(text: str) -> str:
    shown = text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "..."
    return repr(shown)
