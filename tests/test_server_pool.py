"""Several servers per model: requests spread by fewest outstanding, a failing server left
out for a growing back-off and its request retried on another, refusals not retried. Small
loopback HTTP servers answer as a healthy or a failing server would; one whole build runs
on two `transformers serve` processes of one model, one of them killed mid-build."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from config_file import config_file
from scripted_server import scripted, url

from flows.build import build_dataset
from tessy_factory.config import BuildConfig, ModelConfig
from tessy_factory.db import connect
from tessy_factory.engine.loopback import Server
from tessy_factory.engine.openai_model import EndpointError, OpenAIModel
from tessy_factory.engine.transformers_server import running
from tessy_factory.miniature.build import miniature_dir


@pytest.fixture
def servers() -> Iterator[list[ThreadingHTTPServer]]:
    """The scripted servers a test appends; all shut down after it."""
    started: list[ThreadingHTTPServer] = []
    yield started
    for server in started:
        server.shutdown()
        server.server_close()


def pooled(models_root: Path, urls: list[str], **keys) -> OpenAIModel:
    config = ModelConfig(model="miniature:teacher", backend="openai", base_url=urls, **keys)
    return OpenAIModel("pooled", str(miniature_dir(models_root) / "teacher"), config)


async def requests(model: OpenAIModel, count: int) -> list:
    prefix = model.prompt_text("Hello.")
    return await asyncio.gather(*(model.complete(prefix, 5, None, seed) for seed in range(count)))


def test_requests_go_to_the_server_with_the_fewest_outstanding(models_root, servers):
    servers += [scripted(200), scripted(200)]
    model = pooled(models_root, [url(server) for server in servers])
    done = asyncio.run(requests(model, 6))
    assert all("".join(c.pieces) == " done." for c in done)
    # Sent at once, each is sent while the others are outstanding: they split evenly
    # rather than piling on the first server.
    assert [server.hits for server in servers] == [3, 3]


def test_a_failing_server_is_left_out_and_its_request_retried_on_another(models_root, servers):
    servers += [scripted(503), scripted(200)]
    model = pooled(models_root, [url(server) for server in servers], retry_backoff_s=30)
    for _ in range(4):  # one at a time: the failing server is first in line each time
        assert "".join(asyncio.run(requests(model, 1))[0].pieces) == " done."
    # Tried once, then out for its back-off: every request was answered by the other.
    assert [server.hits for server in servers] == [1, 4]


def test_the_back_off_doubles_while_a_server_keeps_failing(models_root, servers):
    servers.append(scripted(429))
    model = pooled(models_root, [url(servers[0])], max_retries=3, retry_backoff_s=0.2)
    started = time.monotonic()
    with pytest.raises(EndpointError, match=r"after 4 tries: HTTP 429: scripted"):
        asyncio.run(requests(model, 1))
    # Out 0.2 s, then 0.4 s, then 0.8 s before the tries that followed.
    assert time.monotonic() - started >= 1.4
    assert servers[0].hits == 4


@pytest.mark.parametrize("status", [400, 404, 422])
def test_a_refusal_is_not_retried_on_any_server(models_root, servers, status):
    servers += [scripted(status), scripted(200)]
    model = pooled(models_root, [url(server) for server in servers], max_retries=3)
    with pytest.raises(EndpointError, match=rf"{url(servers[0])}.* HTTP {status}: scripted"):
        asyncio.run(requests(model, 1))
    assert [server.hits for server in servers] == [1, 0]


def test_an_unreachable_server_is_retried_on_the_other(models_root, servers):
    servers.append(scripted(200))
    # Port 9 (discard) has nothing listening on loopback: connection refused.
    model = pooled(models_root, ["http://127.0.0.1:9/v1", url(servers[0])], retry_backoff_s=30)
    assert len(asyncio.run(requests(model, 3))) == 3
    assert servers[0].hits == 3


# A model used in one event loop after another, as a build probes its servers in one and
# generates in the next, and the benchmark times run after run.
LOOPS_IN_TURN = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from scripted_server import scripted, url
from tessy_factory.config import ModelConfig
from tessy_factory.engine.openai_model import OpenAIModel

server = scripted(200)
config = ModelConfig(model="miniature:teacher", backend="openai", base_url=url(server))
model = OpenAIModel("teacher", {tokenizer!r}, config)
asyncio.run(model.probe())
for _ in range(3):
    prefix = model.prompt_text("Hello.")
    asyncio.run(model.complete(prefix, 5, None, 0))
print("done")
"""


def test_a_model_used_in_event_loops_in_turn_closes_its_clients_with_each(models_root):
    script = LOOPS_IN_TURN.format(
        tests=str(Path(__file__).parent), tokenizer=str(miniature_dir(models_root) / "teacher")
    )
    # Development mode shows what a plain run may only print at exit, if at all: unclosed
    # sockets, and the exceptions of tasks nobody awaited.
    run = subprocess.run(
        [sys.executable, "-X", "dev", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0 and run.stdout.strip() == "done", run.stderr
    for sign in ("Task exception was never retrieved", "Event loop is closed", "unclosed"):
        assert sign not in run.stderr, run.stderr


class KillGroupAfter(logging.Handler):
    """SIGKILLs a server's process group once the build logs its first stored sample."""

    def __init__(self, server: Server) -> None:
        super().__init__()
        self.server = server

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("generation 1/") and self.server.process.poll() is None:
            os.killpg(self.server.process.pid, signal.SIGKILL)
            self.server.process.wait()


def test_a_build_on_two_servers_finishes_every_sample_when_one_is_killed(
    tmp_path, models_root, prefect_harness
):
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(models_root, target_is_directory=True)
    student_dir = str(miniature_dir(models_root) / "student")
    with running([student_dir, student_dir]) as pair:
        student = {
            "model": "miniature:student",
            "chunk_tokens": 5,
            "temperature": 0.3,
            "backend": "openai",
            "base_url": [server.url for server in pair],
            "served_model": student_dir,
            "max_retries": 2,
            "retry_backoff_s": 60,
        }
        config = BuildConfig.model_validate(
            {
                "home": str(home),
                "sources": [{"kind": "demo", "count": 6, "seed": 2026}],
                "student": student,
                "generation": {
                    "modes": ["student-only"],
                    "max_total_tokens": 256,
                    "answer_max_tokens": 64,
                    "concurrency": 2,
                    "server_retries": 0,
                },
                "curation": {"require_accepted": False, "min_rows_to_publish": 0},
            }
        )
        killer = KillGroupAfter(pair[0])
        watcher = logging.getLogger("prefect.task_runs")
        watcher.addHandler(killer)
        try:
            build_dataset(config_file(config), run_id="two-servers-1")
        finally:
            watcher.removeHandler(killer)
    assert pair[0].process.returncode == -signal.SIGKILL  # killed mid-build, not at the exit
    with connect(home / "factory.duckdb") as con:
        rows = con.execute("SELECT status, attempts, error FROM generations").fetchall()
    # Every sample written, none lost to the dead server (a sample may still fail by itself).
    assert len(rows) == 6
    assert all(attempts >= 1 for _, attempts, _ in rows)
    assert not [error for _, _, error in rows if error and pair[0].url in error]
