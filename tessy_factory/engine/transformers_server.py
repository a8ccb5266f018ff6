"""Run `transformers serve` on loopback for local model directories.

The openai backend's tests and benchmark talk to real servers started this way, and a user
without vLLM can try the backend on a laptop the same way. Needs the pip extra
`transformers[serving]`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2

READY_TIMEOUT_S = 180.0
# Continuous batching sizes its paged KV cache as a share of memory; on a CPU machine the
# default took 14 GB per server here, so two servers were killed for memory.
CB_MEMORY_SHARE = 0.05


class ServerFailed(RuntimeError):
    """A server did not come up; the message carries the tail of its log."""


@dataclass(frozen=True)
class Server:
    """A running server: its process and its API root (`http://127.0.0.1:PORT/v1`)."""

    process: subprocess.Popen
    url: str
    log: Path


@contextmanager
def serving(model_dirs: list[str], continuous_batching: bool = False) -> Iterator[list[str]]:
    """Start one pinned server per model directory, all at once; yields their API roots
    (`http://127.0.0.1:PORT/v1`), in order, and stops them on exit."""
    with running(model_dirs, continuous_batching) as servers:
        yield [server.url for server in servers]


@contextmanager
def running(
    model_dirs: list[str], continuous_batching: bool = False, ports: list[int] | None = None
) -> Iterator[list[Server]]:
    """`serving`, yielding the servers themselves, on the given ports or free ones: a test
    kills one mid-build and brings it back on its port."""
    ports = ports or [free_port() for _ in model_dirs]
    with tempfile.TemporaryDirectory(prefix="tessy-serve-") as logs:
        threads = max(1, (os.cpu_count() or 1) // len(model_dirs))
        servers = [
            _start(model_dir, port, Path(logs) / f"server-{i}.log", continuous_batching, threads)
            for i, (model_dir, port) in enumerate(zip(model_dirs, ports, strict=True))
        ]
        try:
            for server in servers:
                _wait_ready(server)
            yield servers
        finally:
            for server in servers:
                server.process.terminate()
            for server in servers:
                try:
                    server.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.process.kill()


def _start(model_dir: str, port: int, log: Path, continuous_batching: bool, threads: int) -> Server:
    command = [
        _transformers_cli(),
        "serve",
        model_dir,
        "--device",
        "cpu",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    if continuous_batching:
        command += ["--continuous-batching", "--cb-max-memory-percent", str(CB_MEMORY_SHARE)]
    # The servers share the machine's cores: each computing on all of them would have
    # their spinning OpenMP threads fight whenever both are busy, as in a TESSY build
    # (measured: 8 samples in flight ran slower than one at a time).
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(threads)}
    with log.open("w") as out:
        # In a process group of its own, so a test can kill the server (and whatever it
        # starts) as a crash would, without signalling itself.
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    return Server(process, f"http://127.0.0.1:{port}/v1", log)


def _transformers_cli() -> str:
    # The CLI of this interpreter's environment, even when that is not on PATH.
    beside = Path(sys.executable).with_name("transformers")
    found = str(beside) if beside.exists() else shutil.which("transformers")
    if found is None:
        raise ServerFailed("the transformers CLI is missing: pip install 'transformers[serving]'")
    return found


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_ready(server: Server) -> None:
    health = server.url.removesuffix("/v1") + "/health"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerFailed(
                f"transformers serve exited with {server.process.returncode}:\n{_tail(server.log)}"
            )
        try:
            if httpx2.get(health, timeout=2).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.25)
    raise ServerFailed(
        f"transformers serve not ready in {READY_TIMEOUT_S:.0f} s:\n{_tail(server.log)}"
    )


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
