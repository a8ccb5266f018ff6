"""The trusted checker of assert-style (HumanEval-like) tests, run in the sandbox as `main.py`.

It must not import the factory: it is shipped to the sandbox as this one file, beside the
program as `solution.py`.

No secret is safe from code that runs in the same interpreter (frames, gc, patched builtins),
so the program runs in a process of its own and the verdict comes from this one:

1. Before it reads anything, the checker makes itself non-dumpable (no ptrace, no
   /proc/PID/mem or /proc/PID/fd for a process of the same uid without privileges) and forks
   the program's process. That child holds no secret: the checker has not read stdin yet.
2. The child points stdin at /dev/null and stdout at stderr, closes every other fd but its
   two pipes to the checker, loads the program as module `solution` (a `__main__` block stays
   inert, as in HumanEval's harness), and then answers calls.
3. The checker reads its request from stdin (the marker, the entry point, the test code and
   its trusted prelude of helpers), runs the prelude, binds the entry point to a proxy that
   calls into the child over the pipes, runs the tests' `check(entry_point)`, ends the
   child, and prints `MARKER JSON-VERDICT` on stdout, which only it holds. The program's
   other functions are never the tests': a program's own `poly` or `abs` must not judge it.

Values cross the pipes as JSON with tags for the types JSON lacks (tuple, dict, set,
frozenset, bytes, complex) and are rebuilt as plain built-in values: whatever the program
returns, the tests compare plain data, never an object of the program's (so no `__eq__`
that always says yes), and nothing is ever unpickled.
"""

import builtins
import contextlib
import ctypes
import json
import os
import resource
import signal
import sys
import time
import types

PR_SET_DUMPABLE = 4
# A call's answer, or the program's list of functions, over this is refused.
MAX_LINE_BYTES = 64 * 1024 * 1024
MAX_DETAIL_CHARS = 500
# How long the checker waits for a program that broke off to exit by itself, before it
# ends it (so that its own exit status says why).
EXIT_GRACE_S = 1.0
# Raised by the program, these would end the tests' loops (`all(map(candidate, xs))`) as
# if the iteration were over: they arrive as RuntimeError.
ENDS_ITERATION = (StopIteration, StopAsyncIteration)
TAGS = {"tuple": tuple, "set": set, "frozenset": frozenset}


class ProgramGone(BaseException):
    """The program's process ended or broke the protocol; args[0] is (verdict, detail).

    A BaseException, so that tests which catch Exception around a call cannot swallow it.
    """


def encode(value):
    """`value` as JSON-able data; TypeError for a type the tests cannot receive."""
    if value is None:
        return None
    for plain in (bool, int, float, str):
        if isinstance(value, plain):
            return plain(value)
    if isinstance(value, list):
        return [encode(item) for item in value]
    for tag, kind in TAGS.items():
        if isinstance(value, kind):
            return {tag: [encode(item) for item in value]}
    if isinstance(value, dict):
        return {"dict": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, bytes | bytearray):
        return {"bytes": bytes(value).hex()}
    if isinstance(value, complex):
        return {"complex": [value.real, value.imag]}
    raise TypeError(f"a value of type {type(value).__name__} cannot cross to the tests")


def decode(data):
    """Plain built-in values from `encode`'s data; ValueError for anything else."""
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is list:
        return [decode(item) for item in data]
    if type(data) is not dict or len(data) != 1:
        raise ValueError("not a value of the checker's protocol")
    ((tag, body),) = data.items()
    if tag in TAGS and type(body) is list:
        return TAGS[tag](decode(item) for item in body)
    if tag == "dict" and type(body) is list:
        return {decode(k): decode(v) for k, v in body}
    if tag == "bytes" and type(body) is str:
        return bytes.fromhex(body)
    if tag == "complex" and type(body) is list:
        return complex(*body)
    raise ValueError(f"unknown tag {tag!r} in the checker's protocol")


def send(pipe, message) -> None:
    pipe.write(json.dumps(message).encode() + b"\n")
    pipe.flush()


def receive(pipe):
    line = pipe.readline(MAX_LINE_BYTES + 1)
    if not line.endswith(b"\n"):
        return None
    return json.loads(line)


# --- the program's side (the child) -----------------------------------------------------


def serve(requests, answers) -> None:
    """Load the program, say which functions it has, then answer calls until EOF."""
    solution = types.ModuleType("solution")
    solution.__file__ = "solution.py"
    sys.modules["solution"] = solution
    try:
        with open("solution.py", encoding="utf-8") as source:
            exec(compile(source.read(), "solution.py", "exec"), solution.__dict__)
    except Exception as exc:
        send(answers, {"error": described(exc)})
        return
    functions = sorted(
        name
        for name, value in vars(solution).items()
        if callable(value) and not name.startswith("__")
    )
    send(answers, {"functions": functions})
    while (request := receive(requests)) is not None:
        try:
            function = vars(solution)[request["call"]]
            result = function(*decode(request["args"]), **decode(request["kwargs"]))
            answer = json.dumps({"value": encode(result)})
        except Exception as exc:
            answer = json.dumps({"error": described(exc)})
        answers.write(answer.encode() + b"\n")
        answers.flush()


def described(exc: Exception) -> list:
    """An exception as the checker rebuilds it: its classes' names, most derived first, and
    its message."""
    return [[kind.__name__ for kind in type(exc).__mro__], str(exc)]


def become_program(requests_fd: int, answers_fd: int) -> None:
    """In the child: drop every way to the checker's stdin and stdout, then serve."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    keep = sorted({0, 1, 2, requests_fd, answers_fd})
    for low, high in zip(keep, [*keep[1:], 65536], strict=True):
        os.closerange(low + 1, high)
    with os.fdopen(requests_fd, "rb") as requests, os.fdopen(answers_fd, "wb") as answers:
        serve(requests, answers)


def exit_status(exc: SystemExit) -> int:
    """The status `sys.exit(code)` asks for, as the interpreter would exit with it."""
    if exc.code is None or isinstance(exc.code, int):
        return exc.code or 0
    print(exc.code, file=sys.stderr)
    return 1


def run_program(requests_fd: int, answers_fd: int) -> None:
    """The child's whole life: it never returns into the checker's code."""
    status = 0
    try:
        become_program(requests_fd, answers_fd)
    except SystemExit as exc:
        status = exit_status(exc)
    except BaseException:
        # Imported here, on the rare crash: it costs about 3 ms a program at start-up.
        import traceback

        traceback.print_exc()
        status = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)


# --- the checker's side -----------------------------------------------------------------


class Program:
    """The program's process, seen from the checker."""

    def __init__(self, pid: int, requests, answers) -> None:
        self.pid, self.requests, self.answers = pid, requests, answers
        self.gone: tuple[str, str] | None = None

    def answer(self) -> dict:
        try:
            got = receive(self.answers)
        except ValueError:
            got = None
        if type(got) is not dict:
            raise ProgramGone(self.fate())
        return got

    def call(self, name: str, args: tuple, kwargs: dict):
        try:
            send(
                self.requests, {"call": name, "args": encode(list(args)), "kwargs": encode(kwargs)}
            )
        except BrokenPipeError:
            raise ProgramGone(self.fate()) from None
        got = self.answer()
        if "error" in got:
            raise remote_error(*got["error"])
        return decode(got["value"])

    def fate(self) -> tuple[str, str]:
        """Why the program stopped answering: its exit status, as a verdict."""
        if self.gone is None:
            self.gone = self._wait()
        return self.gone

    def _wait(self) -> tuple[str, str]:
        with contextlib.suppress(OSError):
            self.requests.close()  # the program sees EOF if it is still there
        status, usage = self.end()
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            if out_of_cpu_time(number, usage.ru_utime + usage.ru_stime):
                return "time_limit", "the program ran past its CPU time"
            return "runtime_error", f"the program was killed by {signal.strsignal(number)}"
        code = os.WEXITSTATUS(status)
        if code == 0:
            return "wrong_answer", "the program exited before the check finished"
        return "runtime_error", f"the program exited with code {code}"

    def end(self) -> tuple[int, resource.struct_rusage]:
        """Reap the program (so its CPU time and memory count in the run's), ending it if it
        has not exited within EXIT_GRACE_S; its wait status and resource usage."""
        deadline = time.monotonic() + EXIT_GRACE_S
        while time.monotonic() < deadline:
            pid, status, usage = os.wait4(self.pid, os.WNOHANG)
            if pid:
                return status, usage
            time.sleep(0.005)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        _, status, usage = os.wait4(self.pid, 0)
        return status, usage


def out_of_cpu_time(number: int, cpu_s: float) -> bool:
    """Whether signal `number` ended a process for its CPU time: SIGXCPU at the soft limit,
    or SIGKILL at the hard one for a process that ignored SIGXCPU (as the judge reads it)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_CPU)
    return number == signal.SIGXCPU or (
        number == signal.SIGKILL and soft != resource.RLIM_INFINITY and cpu_s >= soft
    )


def remote_error(names: list, message: str) -> Exception:
    """The program's exception as the first built-in exception class among its classes
    (a `class Bad(ValueError)` arrives as a ValueError), else a RuntimeError."""
    for name in names:
        kind = getattr(builtins, str(name), None)
        if isinstance(kind, type) and issubclass(kind, Exception):
            if issubclass(kind, ENDS_ITERATION):
                break
            try:
                return kind(message)
            except TypeError:  # a constructor of several arguments (UnicodeDecodeError)
                error = kind.__new__(kind)
                error.args = (message,)
                return error
    return RuntimeError(f"{names[0] if names else 'error'}: {message}")


def proxy(program: Program, name: str):
    def call(*args, **kwargs):
        return program.call(name, args, kwargs)

    call.__name__ = call.__qualname__ = name
    return call


def check(program: Program, request: dict) -> tuple[str, str]:
    """Run the request's tests against the program; (verdict, detail)."""
    try:
        namespace = tests_namespace(program, request)
        exec(compile(request["code"], "tests.py", "exec"), namespace)
        namespace["check"](namespace[request["entry_point"]])
    except ProgramGone as gone:
        return gone.args[0]
    except AssertionError as exc:
        return "wrong_answer", f"AssertionError: {exc}".rstrip(": ")
    except MemoryError:
        return "memory_limit", "MemoryError"
    except Exception as exc:
        return "runtime_error", f"{type(exc).__name__}: {exc}"
    return "accepted", "check passed"


def tests_namespace(program: Program, request: dict) -> dict:
    """The globals the tests run in: the trusted prelude's, and the program's entry point."""
    entry_point = request["entry_point"]
    loaded = program.answer()
    if "error" in loaded:
        raise remote_error(*loaded["error"])
    functions = loaded.get("functions")
    if type(functions) is not list or entry_point not in functions:
        raise NameError(f"name {entry_point!r} is not defined")
    namespace = {"__name__": "tests"}
    exec(compile(request["prelude"], "prelude.py", "exec"), namespace)
    # Bound after the prelude, whose stub of the entry point (a HumanEval prompt's) it hides.
    namespace[entry_point] = proxy(program, entry_point)
    return namespace


def main() -> None:
    # Whole integers cross the pipes, whatever their size (a 5000-digit answer is an answer).
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        sys.exit(f"the checker cannot protect itself: errno {ctypes.get_errno()}")
    requests_fd, to_program = os.pipe()  # (read end, write end)
    from_program, answers_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError as exc:
        # No child exists, so reading the secret is safe: the judge's fault, said as such.
        why = f"the checker cannot start the program's process: {exc} (verification.max_processes)"
        say(json.loads(sys.stdin.readline())["marker"], "sandbox_error", why)
        return
    if pid == 0:
        os.close(to_program)
        os.close(from_program)
        run_program(requests_fd, answers_fd)
    os.close(requests_fd)
    os.close(answers_fd)
    # Read only now, in this process alone: the child was forked before the secret existed.
    request = json.loads(sys.stdin.readline())
    with os.fdopen(to_program, "wb") as requests, os.fdopen(from_program, "rb") as answers:
        program = Program(pid, requests, answers)
        verdict, detail = check(program, request)
        if program.gone is None:
            requests.close()
            program.end()
    say(request["marker"], verdict, detail)


def say(marker: str, verdict: str, detail: str) -> None:
    """The verdict line, after the marker; the detail cut short (the program chose it)."""
    if len(detail) > MAX_DETAIL_CHARS:
        detail = detail[:MAX_DETAIL_CHARS] + "..."
    print(marker, json.dumps({"verdict": verdict, "detail": detail}), flush=True)


if __name__ == "__main__":
    main()
