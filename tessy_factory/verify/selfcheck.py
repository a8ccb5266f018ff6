"""The sandbox's self-check: a few hostile probes run at the start of every verification.

If an upgrade, a container setting or a config change weakened the isolation, the build stops
before any generated code runs, instead of running it less contained than it should. The
probes (about half a second in all) try to read the environment, reach a port the judge
listens on, write outside the scratch space, fork past the process limit and leave processes
behind, and run past the wall limit. The full conformance suite lives in the tests.
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
    with ThreadPoolExecutor(2) as pool:
        hostile = pool.submit(_hostile_probe, sandbox, limits, python)
        runaway = pool.submit(_runaway_probe, sandbox, limits, python)
        return hostile.result() + runaway.result()


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
