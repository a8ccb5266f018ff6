"""The sandbox's self-check: a few hostile probes run at the start of every verification.

If an upgrade, a container setting or a config change weakened the isolation, the build stops
before any generated code runs, instead of running it less contained than it should. The
probes (about half a second in all) try to read the environment, reach a port the judge
listens on, write outside the scratch space, fork past the process limit and leave processes
behind, run past the wall limit, and reach the assert checker's memory and stdin (the
checker must also still give its verdict). The full conformance suite lives in the tests.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from tessy_factory.verify.languages import ASSERT_CHECKER, checker_request, checker_verdict
from tessy_factory.verify.sandbox import CHILD_ENV, Limits, Sandbox

# Names a sandboxed program may see in its environment (bwrap adds PWD).
ALLOWED_ENV = {*CHILD_ENV, "PWD"}
PROBE = r"""
import json, os, socket, sys
port, outside, sleeper, tries = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
found = {"uid": os.getuid(), "env": sorted(os.environ)}
try:
    socket.create_connection(("127.0.0.1", port), timeout=1).close()
    found["network"] = "connected to the judge's port"
except OSError:
    found["network"] = None
try:
    with open(outside, "w") as f:
        f.write("escaped")
    found["write"] = "wrote " + outside
except OSError:
    found["write"] = None
forks = 0
try:
    while forks < tries:
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", sleeper])
        forks += 1
except OSError:
    pass
found["forks"] = forks
print(json.dumps(found))
"""
LOOP = "while True:\n    pass\n"
# Run under the assert checker: which of the checker's secrets the program could open.
PEEK = r"""
import os


def peek(_):
    opened = []
    for name in ("mem", "fd/0", "environ"):
        try:
            open(f"/proc/{os.getppid()}/{name}", "rb").close()
            opened.append(name)
        except OSError:
            pass
    return opened
"""
PEEK_TESTS = "def check(candidate):\n    assert candidate(0) == [], candidate(0)\n"


class IsolationRegressed(RuntimeError):
    """The sandbox failed its self-check; the message lists what got through."""


def ensure_isolation(sandbox: Sandbox, limits: Limits, python: str) -> None:
    """Raise IsolationRegressed when `sandbox` under `limits` lets a probe through. The
    probes are Python programs run with `python`."""
    problems = isolation_problems(sandbox, limits, python)
    if problems:
        raise IsolationRegressed(
            f"the {sandbox.name} sandbox failed its self-check, so no generated code "
            f"runs: {'; '.join(problems)}"
        )


def isolation_problems(sandbox: Sandbox, limits: Limits, python: str) -> list[str]:
    """What got through `sandbox`, as readable lines (empty when nothing did)."""
    probes = (_hostile_probe, _runaway_probe, _checker_probe)
    with ThreadPoolExecutor(2) as pool:
        found = [pool.submit(probe, sandbox, limits, python) for probe in probes]
        return [problem for probe in found for problem in probe.result()]


def _hostile_probe(sandbox: Sandbox, limits: Limits, python: str) -> list[str]:
    sleeper = f"{300 + secrets.randbelow(10**6) / 10**6:.6f}"
    with (
        socket.socket() as listener,
        tempfile.TemporaryDirectory(prefix="tessy-selfcheck-") as outside_dir,
    ):
        # Writable by anyone, so only the isolation can stop the probe's write.
        os.chmod(outside_dir, 0o777)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        outside = Path(outside_dir, "escaped.txt")
        argv = [python, "-I", "probe.py", str(listener.getsockname()[1]), str(outside)]
        argv += [sleeper, str(2 * limits.max_processes)]
        probe_limits = replace(limits, time_limit_s=max(limits.time_limit_s, 5.0))
        result = sandbox.run(argv, {"probe.py": PROBE.encode()}, b"", probe_limits)
        escaped = outside.exists()
    left = _processes_running(["sleep", sleeper])
    try:
        found = json.loads(result.stdout)
    except ValueError:
        return [f"the probe did not report (exit {result.exit_code}): {result.stderr_tail[-300:]}"]
    problems = []
    if found["uid"] == 0:
        problems.append("the program ran as root")
    if extra := set(found["env"]) - ALLOWED_ENV:
        problems.append(f"the program saw environment variables {sorted(extra)}")
    if found["network"]:
        problems.append(found["network"])
    if found["write"] or escaped:
        problems.append(found["write"] or f"wrote {outside}")
    if found["forks"] >= limits.max_processes:
        problems.append(f"forked {found['forks']} times past max_processes")
    if left:
        problems.append(f"{left} process(es) outlived the run")
    return problems


def _runaway_probe(sandbox: Sandbox, limits: Limits, python: str) -> list[str]:
    limits = replace(limits, time_limit_s=0.3)
    result = sandbox.run([python, "-I", "loop.py"], {"loop.py": LOOP.encode()}, b"", limits)
    if not result.timed_out or result.wall_s > 2.0:
        return [f"an endless loop was not stopped at its wall limit ({result.wall_s:.1f} s)"]
    return []


def _checker_probe(sandbox: Sandbox, limits: Limits, python: str) -> list[str]:
    marker = f"probe {secrets.token_hex(16)}"
    files = {"main.py": ASSERT_CHECKER, "solution.py": PEEK.encode()}
    request = checker_request(marker, "peek", PEEK_TESTS)
    result = sandbox.run([python, "-I", "main.py"], files, request, limits)
    said = checker_verdict(result.stdout, marker)
    if said is None:
        return [f"the assert checker gave no verdict: {result.stderr_tail[-300:]}"]
    if said[0] != "accepted":
        return [f"a program under the assert checker could open the checker's {said[1]}"]
    return []


def _processes_running(cmdline: list[str]) -> int:
    """How many processes on this host run exactly `cmdline`."""
    wanted = "\0".join(cmdline).encode() + b"\0"
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                count += Path(entry.path, "cmdline").read_bytes() == wanted
            except OSError:
                continue
    return count
