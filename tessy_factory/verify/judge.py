"""Judge a generated sample: extract its program, run it against the prompt's tests, give a verdict.

Tests come in two styles (a JSON-able dict per prompt):
    {"style": "stdio", "cases": [{"input": "...", "output": "..."}, ...], "comparison": {...}}
    {"style": "assert", "entry_point": "name", "code": "def check(candidate): ..."}
A stdio case passes when the output matches, compared as bytes under `verification.comparison`
with the tests' own "comparison" flags (their problem's and source's) in place of its own. An
assert test runs
program + test code as a module, then `check(entry_point)`, once (Python only), and passes
when the check ran to its end. Failures of the judge itself (the sandbox cannot start, tests
it cannot use) are `sandbox_error`, never blamed on the sample.
"""

from __future__ import annotations

import errno
import os
import secrets
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum

from tessy_factory.config import OutputComparison, VerificationConfig
from tessy_factory.sources.normalise import InvalidTestsError, normalise_tests
from tessy_factory.verify.compare import outputs_match
from tessy_factory.verify.extract import extract_program
from tessy_factory.verify.languages import (
    CompileError,
    Cpp,
    Python,
    Runnable,
    checker_request,
    checker_verdict,
    compile_limits,
    python_in,
)
from tessy_factory.verify.sandbox import Limits, RunResult, Sandbox, open_sandbox

PREVIEW_CHARS = 60
# A program killed by one of these signals while near its address-space limit most likely
# failed to allocate (C code that aborts or crashes instead of raising MemoryError).
ALLOCATION_FAILURE_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS}
NEAR_MEMORY_LIMIT = 0.8


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    WRONG_ANSWER = "wrong_answer"
    TIME_LIMIT = "time_limit"
    MEMORY_LIMIT = "memory_limit"
    RUNTIME_ERROR = "runtime_error"
    COMPILE_ERROR = "compile_error"
    OUTPUT_LIMIT = "output_limit"
    NO_CODE = "no_code"
    SANDBOX_ERROR = "sandbox_error"


@dataclass(frozen=True)
class CaseResult:
    """One test case's run: its verdict and what it cost."""

    case: int  # 1-based
    verdict: Verdict
    wall_s: float | None
    cpu_s: float | None
    peak_memory_mb: float | None
    detail: str


@dataclass(frozen=True)
class Judgement:
    """The verdict on one sample; `detail` names the first failing case and why."""

    verdict: Verdict
    tests_passed: int
    tests_total: int
    detail: str
    seconds: float
    cases: tuple[CaseResult, ...] = ()
    first_failure: int | None = None  # the 1-based number of the first failing case


@dataclass(frozen=True)
class StdioCase:
    input: str
    output: str


@dataclass(frozen=True)
class StdioTests:
    cases: tuple[StdioCase, ...]
    comparison: dict[str, object] = field(default_factory=dict)  # the tests' own flags


@dataclass(frozen=True)
class AssertTests:
    entry_point: str
    code: str
    prelude: str = ""  # trusted helpers the tests call (see normalise_tests)


def parse_tests(tests: dict) -> StdioTests | AssertTests:
    """The tests in their canonical shape (as sources store them); ValueError naming the
    problem when they are unusable."""
    try:
        canonical = normalise_tests(tests)
    except InvalidTestsError as exc:
        raise ValueError(f"tests: {exc}") from exc
    if canonical["style"] == "assert":
        return AssertTests(
            canonical["entry_point"], canonical["code"], canonical.get("prelude", "")
        )
    cases = tuple(StdioCase(**case) for case in canonical["cases"])
    return StdioTests(cases, canonical.get("comparison", {}))


class _JudgeFault(Exception):
    """The judge cannot judge this sample; never the sample's fault."""


@dataclass(frozen=True)
class Judge:
    """Judges programs in one language, in one sandbox, under one set of limits.

    Plain data apart from the sandbox, so it can be shipped to a Dask or Ray worker.
    """

    sandbox: Sandbox
    language: Python | Cpp
    limits: Limits
    compile_limits: Limits
    comparison: OutputComparison = field(default_factory=OutputComparison)
    stop_at_first_failure: bool = True

    @classmethod
    def from_config(cls, config: VerificationConfig) -> Judge:
        """The judge a build's verification config describes; SandboxUnavailable if its
        sandbox does not work here, ValueError if its Python cannot run in it."""
        sandbox = open_sandbox(config.sandbox)
        language = (
            python_in(sandbox, config.python)
            if config.language == "python"
            else Cpp(config.cxx, tuple(config.cxx_flags))
        )
        limits = Limits(
            time_limit_s=config.time_limit_s,
            memory_mb=config.memory_mb,
            output_limit_bytes=config.output_limit_bytes,
            cpu_time_s=config.cpu_time_s,
            file_size_mb=config.file_size_mb,
            max_processes=config.max_processes,
            max_open_files=config.max_open_files,
            scratch_mb=config.scratch_mb,
        )
        return cls(
            sandbox=sandbox,
            language=language,
            limits=limits,
            compile_limits=compile_limits(
                config.compile_time_limit_s, config.compile_memory_mb, config.file_size_mb
            ),
            comparison=config.comparison,
            stop_at_first_failure=config.stop_at_first_failure,
        )

    def judge(self, text: str, tests: dict) -> Judgement:
        """Judge one generated sample (`<think>...</think>` then the answer)."""
        return self.judge_program(extract_program(text, self.language.name), tests)

    def judge_program(self, program: str | None, tests: dict) -> Judgement:
        """Judge a program (None: the answer had none) against `tests`."""
        started = time.monotonic()
        try:
            parsed = parse_tests(tests)
            total = len(parsed.cases) if isinstance(parsed, StdioTests) else 1
            if program is None:
                lang = self.language.name
                verdict = Verdict.NO_CODE, f"no {lang} code block after </think>"
                return _judgement(*verdict, total, started)
            if isinstance(parsed, AssertTests):
                built = self._build_check(program, parsed)
            else:
                built = self.language.build(program, self.sandbox, self.compile_limits)
            if isinstance(built, CompileError):
                return _judgement(Verdict.COMPILE_ERROR, built.detail, total, started)
            if isinstance(parsed, AssertTests):
                cases = [self._assert_case(built, parsed)]
            else:
                cases = self._stdio_cases(built, parsed)
        except (ValueError, _JudgeFault) as exc:
            return _judgement(Verdict.SANDBOX_ERROR, str(exc), 0, started)
        except OSError as exc:
            detail = f"could not run the program: {exc}"
            return _judgement(Verdict.SANDBOX_ERROR, detail, 0, started)
        return _summary(cases, total, started)

    def _stdio_cases(self, built: Runnable, tests: StdioTests) -> list[CaseResult]:
        comparison = self.comparison.overridden_by(tests.comparison)
        results = []
        for number, case in enumerate(tests.cases, start=1):
            result = self.sandbox.run(built.argv, built.files, case.input.encode(), self.limits)
            failure = _run_failure(result, self.limits)
            if failure is None and not outputs_match(
                case.output.encode(), result.stdout, comparison
            ):
                # Decoded only to be shown; undecodable bytes show as escapes.
                got = result.stdout.decode("utf-8", errors="backslashreplace")
                failure = (
                    Verdict.WRONG_ANSWER,
                    f"expected {_preview(case.output)}, got {_preview(got)}",
                )
            verdict, detail = failure or (Verdict.ACCEPTED, "passed")
            results.append(_case(number, verdict, detail, result))
            if failure is not None and self.stop_at_first_failure:
                break
        return results

    def _build_check(self, program: str, tests: AssertTests) -> Runnable | CompileError:
        if not self.language.runs_asserts:
            raise _JudgeFault(
                f"assert tests run Python programs; this judge runs {self.language.name}"
            )
        return self.language.build_check(program, self.sandbox, self.compile_limits)

    def _assert_case(self, built: Runnable, tests: AssertTests) -> CaseResult:
        # The verdict is the trusted checker's, on a line after a fresh marker that only the
        # checker's process ever reads (see assert_checker.py).
        marker = f"check {secrets.token_hex(16)}"
        request = checker_request(marker, tests.entry_point, tests.code, tests.prelude)
        result = self.sandbox.run(built.argv, built.files, request, self.limits)
        failure = _run_failure(result, self.limits)
        said = checker_verdict(result.stdout, marker) if failure is None else None
        if said is not None:
            verdict, detail = said
            return _case(1, Verdict(verdict), f"check: {detail}", result)
        verdict, why = failure or (Verdict.RUNTIME_ERROR, "the checker gave no verdict")
        return _case(1, verdict, f"check: {why}", result)


def judge_many(judge: Judge, items: list[tuple[str, dict]], workers: int) -> list[Judgement]:
    """Judge (text, tests) pairs in parallel, in order; `workers=0` means one per CPU core.

    Threads suffice: each judgement waits on sandboxed processes, not on Python code.
    """
    if workers < 0:
        raise ValueError(f"workers must be 0 (one per CPU core) or more, got {workers}")
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        return list(pool.map(lambda item: judge.judge(*item), items))


def _case(number: int, verdict: Verdict, detail: str, result: RunResult) -> CaseResult:
    return CaseResult(number, verdict, result.wall_s, result.cpu_s, result.peak_memory_mb, detail)


def _judgement(verdict: Verdict, detail: str, total: int, started: float) -> Judgement:
    return Judgement(verdict, 0, total, detail, time.monotonic() - started)


def _summary(cases: list[CaseResult], total: int, started: float) -> Judgement:
    passed = sum(case.verdict is Verdict.ACCEPTED for case in cases)
    failed = next((case for case in cases if case.verdict is not Verdict.ACCEPTED), None)
    seconds = time.monotonic() - started
    if failed is None:
        detail = f"all {passed} cases passed" if total > 1 else cases[0].detail
        return Judgement(Verdict.ACCEPTED, passed, total, detail, seconds, tuple(cases))
    detail = failed.detail if total == 1 else f"case {failed.case}: {failed.detail}"
    return Judgement(failed.verdict, passed, total, detail, seconds, tuple(cases), failed.case)


def _run_failure(result: RunResult, limits: Limits) -> tuple[Verdict, str] | None:
    """The verdict and reason when a run failed on its own terms (before comparing output)."""
    # What the program wrote on stderr only explains a failure; a clean exit stands.
    last = _last_line(result.stderr_tail) if result.exit_code != 0 else ""
    # Python ignores SIGXFSZ, so a file past the limit shows as EFBIG ("File too large").
    file_too_large = f"[Errno {errno.EFBIG}]" in last
    if result.output_limited or result.signal == signal.SIGXFSZ or file_too_large:
        return Verdict.OUTPUT_LIMIT, f"output over {limits.output_limit_bytes} bytes or file limit"
    if result.timed_out:
        return Verdict.TIME_LIMIT, f"ran past {limits.time_limit_s:g} s"
    if _out_of_cpu_time(result, limits):
        return Verdict.TIME_LIMIT, f"used its {limits.cpu_seconds()} s of CPU time"
    if _out_of_memory(result, last, limits):
        return Verdict.MEMORY_LIMIT, f"ran out of its {limits.memory_mb} MB"
    if result.signal is not None:
        name = signal.strsignal(result.signal) or f"signal {result.signal}"
        return Verdict.RUNTIME_ERROR, f"killed by {name}"
    if result.exit_code != 0:
        return Verdict.RUNTIME_ERROR, f"exit code {result.exit_code}: {_preview(last)}"
    return None


def _out_of_cpu_time(result: RunResult, limits: Limits) -> bool:
    # The soft CPU limit sends SIGXCPU; a program that ignores it is killed (SIGKILL) at the
    # hard limit a second later. A SIGKILL before the program used its CPU time has another
    # cause (the kernel's OOM killer, the program itself) and stays a runtime error.
    return result.signal == signal.SIGXCPU or (
        result.signal == signal.SIGKILL and result.cpu_s >= limits.cpu_seconds()
    )


def _out_of_memory(result: RunResult, stderr_last_line: str, limits: Limits) -> bool:
    if stderr_last_line.startswith("MemoryError") or "std::bad_alloc" in stderr_last_line:
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
