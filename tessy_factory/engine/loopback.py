"""Start model servers as child processes on loopback, wait until they answer, stop them.

What `transformers serve` and vLLM's launchers share: each builds its own command line, and
this runs one process per model directory, all starting at once, each on its own port and
with its own log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2


class ServerFailed(RuntimeError):
    """A server did not come up; the message carries the tail of its log."""


@dataclass(frozen=True)
class Server:
    """A running server: its process and its API root (`http://127.0.0.1:PORT/v1`)."""

    process: subprocess.Popen
    url: str
    log: Path
    # What it is, for messages: "transformers serve", "vLLM".
    name: str = "server"


@dataclass(frozen=True)
class Launch:
    """How to start one kind of server: its name, command line and environment."""

    name: str
    # (model directory, port, threads) -> the command line to run
    command: Callable[[str, int, int], list[str]]
    # threads -> variables added to this process's environment
    environment: Callable[[int], dict[str, str]]
    ready_timeout_s: float


@contextmanager
def running_all(
    launch: Launch, model_dirs: list[str], ports: list[int] | None = None
) -> Iterator[list[Server]]:
    """One server per model directory, on the given ports or free ones, started at once;
    yields them once all answer, and stops them on exit."""
    ports = ports or [free_port() for _ in model_dirs]
    # The servers share the machine's cores: each computing on all of them would have
    # their spinning OpenMP threads fight whenever both are busy, as in a TESSY build
    # (measured: 8 samples in flight ran slower than one at a time).
    threads = max(1, (os.cpu_count() or 1) // len(model_dirs))
    with tempfile.TemporaryDirectory(prefix="tessy-serve-") as logs:
        servers = [
            _start(launch, model_dir, port, threads, Path(logs) / f"server-{i}.log")
            for i, (model_dir, port) in enumerate(zip(model_dirs, ports, strict=True))
        ]
        try:
            for server in servers:
                _wait_ready(server, launch.ready_timeout_s)
            yield servers
        finally:
            _stop(servers)


def _start(launch: Launch, model_dir: str, port: int, threads: int, log: Path) -> Server:
    command = launch.command(model_dir, port, threads)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **launch.environment(threads)}
    with log.open("w") as out:
        # In a process group of its own, so a test can kill the server (and whatever it
        # starts) as a crash would, without signalling itself.
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    return Server(process, f"http://127.0.0.1:{port}/v1", log, launch.name)


def _stop(servers: list[Server], grace_s: float = 10) -> None:
    # All asked at once, so their shutdowns overlap rather than add up.
    for server in servers:
        _signal_group(server, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for server in servers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        # The whole group, whether or not its leader has gone: vLLM serves from an engine
        # process of its own, which can outlive an API server that exits at once.
        _signal_group(server, signal.SIGKILL)
        server.process.wait()


def _signal_group(server: Server, signum: int) -> None:
    # Gone already where a test killed it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signum)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_ready(server: Server, timeout_s: float) -> None:
    health = server.url.removesuffix("/v1") + "/health"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerFailed(
                f"{server.name} exited with {server.process.returncode}:\n{_tail(server.log)}"
            )
        try:
            if httpx2.get(health, timeout=2).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.25)
    raise ServerFailed(f"{server.name} not ready in {timeout_s:.0f} s:\n{_tail(server.log)}")


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
