"""The languages programs are judged in: how each is checked or compiled, and how it runs.

`build` turns source into what runs per test case: the files to place in the sandbox and the
command. A compile error is a verdict on the sample, never the judge's fault; a compiler that
cannot start is (OSError).
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tessy_factory.verify.sandbox import Limits, Sandbox

COMPILE_OUTPUT_LIMIT = 256 * 1024 * 1024
DIAGNOSTIC_LINES = 3
# A compiler that cannot start shows as sh's "not found" (127) or "cannot execute" (126).
SHELL_CANNOT_RUN = {126, 127}
PROBE_LIMITS = Limits(time_limit_s=10.0, memory_mb=512, output_limit_bytes=4096)

# The trusted checker of assert tests (see its docstring): the program runs in a process of
# its own, and the verdict comes from the checker, after a marker only it has read.
ASSERT_CHECKER = Path(__file__).with_name("assert_checker.py").read_bytes()


@dataclass(frozen=True)
class Runnable:
    """A program ready to run once per test case."""

    files: Mapping[str, bytes]
    argv: list[str]


@dataclass(frozen=True)
class CompileError:
    """Why a program does not compile."""

    detail: str


@dataclass(frozen=True)
class Python:
    """Python 3, run with `-I` (no user site, no environment). Syntax is checked in-process,
    so a syntax error needs no sandbox run per test case, when the judge's own Python has the
    interpreter's version (`python_in`); otherwise it shows when the program runs."""

    interpreter: str = "python3"
    syntax_check: bool = True
    name = "python"
    runs_asserts = True

    def build(self, source: str, sandbox: Sandbox, limits: Limits) -> Runnable | CompileError:
        try:
            data = _utf8(source)
            if self.syntax_check:
                _check_syntax(source)
        except SyntaxError as exc:
            return CompileError(f"line {exc.lineno}: {exc.msg}")
        except (ValueError, RecursionError, MemoryError) as exc:
            # Null bytes, lone surrogates, or nesting too deep for the compiler.
            return CompileError(f"cannot compile: {exc}")
        return Runnable({"main.py": data}, [self.interpreter, "-I", "main.py"])

    def build_check(
        self, program: str, sandbox: Sandbox, limits: Limits
    ) -> Runnable | CompileError:
        """The program as module `solution`, beside the checker that runs assert tests on it
        (`checker_request` says which)."""
        built = self.build(program, sandbox, limits)
        if isinstance(built, CompileError):
            return built
        files = {"solution.py": built.files["main.py"], "main.py": ASSERT_CHECKER}
        return Runnable(files, built.argv)


def checker_request(marker: str, entry_point: str, tests_code: str, prelude: str = "") -> bytes:
    """The checker's stdin: the marker it prints its verdict after, the tests to run, and
    the trusted helpers they run after."""
    request = {"marker": marker, "entry_point": entry_point, "code": tests_code}
    request["prelude"] = prelude
    return json.dumps(request).encode() + b"\n"


def checker_verdict(stdout: bytes, marker: str) -> tuple[str, str] | None:
    """(verdict, detail) from the checker's last line, or None when it gave none."""
    lines = stdout.decode("utf-8", errors="replace").strip().splitlines()
    if not lines or not lines[-1].startswith(f"{marker} "):
        return None
    said = json.loads(lines[-1][len(marker) + 1 :])
    return said["verdict"], said["detail"]


def python_in(sandbox: Sandbox, interpreter: str) -> Python:
    """`interpreter` as programs will run it in `sandbox`; ValueError naming
    `verification.python` when it cannot run there."""
    version = "import sys; print(*sys.version_info[:2])"
    problem = f"verification.python {interpreter!r} cannot run in the sandbox"
    try:
        probe = sandbox.run([interpreter, "-I", "-c", version], {}, b"", PROBE_LIMITS)
    except OSError as exc:
        raise ValueError(f"{problem}: {exc}") from exc
    if probe.exit_code != 0 or probe.timed_out:
        raise ValueError(f"{problem}: {_diagnostic(probe.stderr_tail) or probe.exit_code}")
    same_version = probe.stdout.split() == [str(part).encode() for part in sys.version_info[:2]]
    return Python(interpreter, syntax_check=same_version)


@dataclass(frozen=True)
class Cpp:
    """C++ compiled once in the sandbox; the binary then runs per test case."""

    compiler: str = "g++"
    flags: tuple[str, ...] = ("-std=c++17", "-O2")
    name = "cpp"
    runs_asserts = False

    def build(self, source: str, sandbox: Sandbox, limits: Limits) -> Runnable | CompileError:
        try:
            source_bytes = _utf8(source)
        except UnicodeEncodeError as exc:
            return CompileError(f"cannot compile: {exc}")
        # The binary leaves the sandbox on stdout, so no host directory is ever writable to it.
        script = 'c="$1"; shift; "$c" "$@" -o main main.cpp >&2 && exec cat main'
        argv = ["sh", "-c", script, "sh", self.compiler, *self.flags]
        result = sandbox.run(argv, {"main.cpp": source_bytes}, b"", limits)
        if result.exit_code in SHELL_CANNOT_RUN:
            why = _diagnostic(result.stderr_tail) or f"exit {result.exit_code}"
            raise OSError(f"the C++ compiler {self.compiler!r} cannot run: {why}")
        if result.timed_out:
            return CompileError(f"the compiler ran past {limits.time_limit_s:g} s")
        if result.exit_code != 0 or result.output_limited:
            return CompileError(_diagnostic(result.stderr_tail) or f"exit {result.exit_code}")
        return Runnable({"main": result.stdout}, ["./main"])


def compile_limits(time_limit_s: float, memory_mb: int, file_size_mb: int) -> Limits:
    """Limits for a compile: the compiler's own processes, and room for the binary."""
    return Limits(
        time_limit_s=time_limit_s,
        memory_mb=memory_mb,
        output_limit_bytes=COMPILE_OUTPUT_LIMIT,
        file_size_mb=max(file_size_mb, 256),
        scratch_mb=512,
    )


def _check_syntax(source: str) -> None:
    # The judge's warning filters must not turn a program's warning (an invalid escape
    # sequence, say) into an error that the sandboxed interpreter would not raise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compile(source, "main.py", "exec")


def _diagnostic(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if "error" in line]
    return " | ".join((errors or stderr.splitlines())[:DIAGNOSTIC_LINES])


def _utf8(source: str) -> bytes:
    """The program's bytes; UnicodeEncodeError (a ValueError) for lone surrogates."""
    return source.encode("utf-8")
