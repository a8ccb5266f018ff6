"""Run `transformers serve` on loopback for local model directories.

The openai backend's tests and benchmark talk to real servers started this way, and a user
without vLLM can try the backend on a laptop the same way. Needs the pip extra
`transformers[serving]`.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from tessy_factory.engine.loopback import Launch, Server, ServerFailed, running_all

READY_TIMEOUT_S = 180.0
# Continuous batching sizes its paged KV cache as a share of memory; on a CPU machine the
# default took 14 GB per server here, so two servers were killed for memory.
CB_MEMORY_SHARE = 0.05


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
    launch = Launch(
        "transformers serve",
        partial(_command, _transformers_cli(), continuous_batching),
        lambda threads: {"OMP_NUM_THREADS": str(threads)},
        READY_TIMEOUT_S,
    )
    with running_all(launch, model_dirs, ports) as servers:
        yield servers


def _command(cli: str, continuous_batching: bool, model_dir: str, port: int, _threads: int):
    command = [cli, "serve", model_dir, "--device", "cpu", "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    if continuous_batching:
        command += ["--continuous-batching", "--cb-max-memory-percent", str(CB_MEMORY_SHARE)]
    return command


def _transformers_cli() -> str:
    # The CLI of this interpreter's environment, even when that is not on PATH.
    beside = Path(sys.executable).with_name("transformers")
    found = str(beside) if beside.exists() else shutil.which("transformers")
    if found is None:
        raise ServerFailed("the transformers CLI is missing: pip install 'transformers[serving]'")
    return found
