"""The supervisor: a small process between the judge and the program it runs.

Linux hands a child its parent's peak memory at fork and exec, so a program started straight
from the judge (which may hold a model in memory) would report the judge's peak as its own.
The supervisor is small: it forks the program, kills it at the wall-clock limit, reaps it and
writes the program's own exit status and resource usage as JSON to the judge on a pipe.

It runs as a script with the standard library only:
    python -I -S supervise.py TIME_LIMIT_S REPORT_FD PROGRAM [ARG...]
"""

import json
import os
import select
import signal
import sys
import time


def supervise(time_limit_s: float, report_fd: int, program: list[str]) -> None:
    """Run `program`, end it after `time_limit_s` of wall time, and report on `report_fd`."""
    # The program must not inherit the report pipe, or it could forge its own report.
    os.set_inheritable(report_fd, False)
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.execv(program[0], program)
        finally:
            os._exit(127)
    exited = os.pidfd_open(pid)
    timed_out = not select.select([exited], [], [], time_limit_s)[0]
    os.close(exited)
    if timed_out:
        # The child is not reaped yet, so its pid cannot belong to anyone else.
        os.kill(pid, signal.SIGKILL)
    _, status, usage = os.wait4(pid, 0)
    report = {
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "wall_s": time.monotonic() - started,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_memory_mb": usage.ru_maxrss / 1024,  # ru_maxrss is in KiB on Linux
        "timed_out": timed_out,
    }
    os.write(report_fd, json.dumps(report).encode())


if __name__ == "__main__":
    supervise(float(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])
