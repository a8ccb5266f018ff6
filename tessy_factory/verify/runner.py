"""Run one untrusted Python program under resource limits and report what happened.

This is the minimal isolation layer: a fresh scratch directory, a cleared environment (no
tokens leak), rlimits on CPU, address space, file size, processes and core dumps, its own
process group that is killed whole at the end, a capped stdout, and no network when
`unshare -n` works here. This contains accidents and runaway programs, not a deliberate
attack: the program still runs as the judge's user (as root, RLIMIT_NPROC is not enforced and
it could signal the judge). The full default-deny sandbox (bubblewrap: read-only filesystem,
unprivileged uid) is a later layer on top of this one.

The chain of processes is `prlimit` -> `unshare -n` -> `supervise.py` -> the program, each
`prlimit`/`unshare` step an exec. The rlimits are set by `prlimit` rather than in a
`preexec_fn`: the judge runs programs from several threads, and Python documents `preexec_fn`
as unsafe when threads exist. `supervise.py` says why the supervisor exists.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024
CHILD_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
SUPERVISOR = Path(__file__).with_name("supervise.py")
STDERR_TAIL_BYTES = 4096
READ_CHUNK_BYTES = 64 * 1024
# The supervisor enforces the time limit; the judge steps in only when the supervisor itself
# is stuck (the program may stop or kill it), this long after the limit.
BACKSTOP_S = 2.0
# After the supervisor exits, the pipes may still be held by a process that escaped the
# group; read what is left for at most this long.
DRAIN_S = 0.5


@dataclass(frozen=True)
class Limits:
    """Resource limits for one run of a program."""

    time_limit_s: float
    memory_mb: int
    output_limit_bytes: int
    file_size_mb: int = 16
    max_processes: int = 64


@dataclass(frozen=True)
class RunResult:
    """What one run did.

    `exit_code` is None when a signal ended the program. `cpu_s` and `peak_memory_mb` are None
    when the program took its supervisor down with it, so nothing measured them.
    """

    exit_code: int | None
    signal: int | None
    stdout: str
    stderr_tail: str
    wall_s: float
    cpu_s: float | None
    peak_memory_mb: float | None
    timed_out: bool
    output_limited: bool


@functools.cache
def network_namespace_available() -> bool:
    """Whether `unshare -n` can give a program its own, empty network namespace here."""
    try:
        probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def run_program(source: str, stdin: str, limits: Limits) -> RunResult:
    """Run `source` with `python -I` on `stdin` under `limits`; OSError if it cannot start."""
    with (
        tempfile.TemporaryDirectory(prefix="tessy-run-") as workdir,
        tempfile.TemporaryFile() as stdin_file,
    ):
        script = Path(workdir) / "main.py"
        script.write_text(source, encoding="utf-8")
        stdin_file.write(stdin.encode("utf-8"))
        stdin_file.seek(0)
        report_read, report_write = os.pipe()
        with open(report_read, "rb") as report_pipe:
            started = time.monotonic()
            try:
                proc = subprocess.Popen(
                    _command(script, limits, report_write),
                    stdin=stdin_file,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    cwd=workdir,
                    env=CHILD_ENV,
                    start_new_session=True,
                    pass_fds=(report_write,),
                )
            finally:
                # The supervisor holds its own copy; ours would keep the pipe from ever ending.
                os.close(report_write)
            with proc:
                stdout, stderr, output_limited, stuck = _capture(
                    proc, started + limits.time_limit_s + BACKSTOP_S, limits.output_limit_bytes
                )
            report = report_pipe.read()
    measured = json.loads(report) if report else _unmeasured(proc, started)
    return RunResult(
        exit_code=measured["exit_code"],
        signal=measured["signal"],
        stdout=stdout[: limits.output_limit_bytes].decode("utf-8", errors="replace"),
        stderr_tail=stderr.decode("utf-8", errors="replace"),
        wall_s=measured["wall_s"],
        cpu_s=measured["cpu_s"],
        peak_memory_mb=measured["peak_memory_mb"],
        timed_out=measured["timed_out"] or stuck,
        output_limited=output_limited,
    )


def _command(script: Path, limits: Limits, report_fd: int) -> list[str]:
    # The CPU limit is a backstop for programs that burn CPU in several threads; the wall
    # clock normally ends a run first.
    cpu_s = math.ceil(limits.time_limit_s) + 1
    rlimits = [
        "prlimit",
        f"--cpu={cpu_s}:{cpu_s + 1}",
        f"--as={limits.memory_mb * MIB}",
        f"--fsize={limits.file_size_mb * MIB}",
        f"--nproc={limits.max_processes}",
        "--core=0",
        "--",
    ]
    no_network = ["unshare", "-n"] if network_namespace_available() else []
    supervisor = [sys.executable, "-I", "-S", str(SUPERVISOR), str(limits.time_limit_s)]
    program = [sys.executable, "-I", str(script)]
    return [*rlimits, *no_network, *supervisor, str(report_fd), *program]


def _capture(
    proc: subprocess.Popen[bytes], deadline: float, output_limit: int
) -> tuple[bytes, bytes, bool, bool]:
    """Read stdout and stderr until the supervisor has exited and both pipes are closed.

    Returns (stdout, stderr tail, output limited, stuck). Past `output_limit` bytes the judge
    closes its end of stdout, so the program dies of a broken pipe (or of its time limit).
    Past `deadline` the supervisor counts as stuck. Either way the supervisor is reaped here
    and its whole process group killed, grandchildren included.
    """
    stdout, stderr = bytearray(), bytearray()
    output_limited = stuck = False
    exited = os.pidfd_open(proc.pid)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ, "stdout")
            selector.register(proc.stderr, selectors.EVENT_READ, "stderr")
            selector.register(exited, selectors.EVENT_READ, "exit")
            while selector.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    stuck = exited in selector.get_map()
                    break
                for key, _ in selector.select(remaining):
                    if key.data == "exit":
                        selector.unregister(exited)
                        # The group id stays reserved until the supervisor is reaped, so
                        # this cannot hit an unrelated process.
                        _kill_group(proc.pid)
                        deadline = min(deadline, time.monotonic() + DRAIN_S)
                        continue
                    chunk = os.read(key.fd, READ_CHUNK_BYTES)
                    if not chunk:
                        selector.unregister(key.fileobj)
                    elif key.data == "stderr":
                        stderr = (stderr + chunk)[-STDERR_TAIL_BYTES:]
                    else:
                        stdout += chunk
                        if len(stdout) > output_limit:
                            output_limited = True
                            selector.unregister(proc.stdout)
                            proc.stdout.close()
    finally:
        os.close(exited)
        _kill_group(proc.pid)
        _, status, _ = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return bytes(stdout), bytes(stderr), output_limited, stuck


def _unmeasured(proc: subprocess.Popen[bytes], started: float) -> dict:
    """What is known of a run whose supervisor died before it could report."""
    code = proc.returncode
    return {
        "exit_code": code if code >= 0 else None,
        "signal": -code if code < 0 else None,
        "wall_s": time.monotonic() - started,
        "cpu_s": None,
        "peak_memory_mb": None,
        "timed_out": False,
    }


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
