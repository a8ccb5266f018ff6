"""Generation and verification in shards on a Dask cluster write what the local runner
writes; a worker killed mid-build loses and duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
from config_file import config_file

from flows.build import build_dataset
from tessy_factory.config import BuildConfig
from tessy_factory.db import connect
from tessy_factory.engine.loopback import free_port

REPO = Path(__file__).resolve().parent.parent
N_PROMPTS = 6
MODES = ["tessy", "student-only"]

# What a sample is, whichever run wrote it, and what it and its verdict hold.
ROWS = """
SELECT g.prompt_id, g.mode, g.sample_index, g.attempts, g.status, g.text, g.spans,
       g.n_switches, v.verdict, v.tests_passed, v.tests_total
FROM generations AS g LEFT JOIN verdicts AS v USING (run_id, sample_id)
WHERE g.run_id = ? ORDER BY 1, 2, 3
"""


def make_home(root: Path, models_root: Path) -> Path:
    home = root / "home"
    home.mkdir(parents=True)
    (home / "models").symlink_to(models_root, target_is_directory=True)
    return home


def build_config(home: Path, **execution: object) -> BuildConfig:
    return BuildConfig.model_validate(
        {
            "home": str(home),
            "sources": [{"kind": "demo", "count": N_PROMPTS, "seed": 11}],
            "generation": {"modes": MODES, "max_total_tokens": 128, "answer_max_tokens": 64},
            "verification": {"workers": 1},
            "curation": {"min_rows_to_publish": 1, "metrics": {"enabled": False}},
            "execution": execution,
        }
    )


def rows(home: Path, run_id: str) -> list[tuple]:
    with connect(home / "factory.duckdb") as con:
        return con.execute(ROWS, [run_id]).fetchall()


@pytest.fixture(scope="module")
def local_rows(tmp_path_factory, models_root, prefect_harness) -> list[tuple]:
    home = make_home(tmp_path_factory.mktemp("local"), models_root)
    build_dataset(config_file(build_config(home)), run_id="local-1", dry_run=True)
    found = rows(home, "local-1")
    assert len(found) == N_PROMPTS * len(MODES)
    return found


def test_a_local_cluster_build_writes_the_local_runners_rows(
    local_rows, tmp_path, models_root, prefect_harness
):
    home = make_home(tmp_path, models_root)
    config = build_config(
        home, task_runner="dask", dask_workers=2, shard_size=3, verify_shard_size=4
    )
    build_dataset(config_file(config), run_id="dask-1", dry_run=True)
    assert rows(home, "dask-1") == local_rows


class Cluster:
    """A `dask scheduler` and its `dask worker`s, each a process of its own (no nanny, so
    a killed worker stays dead and its shards must go to the other)."""

    def __init__(self, n_workers: int, log_dir: Path) -> None:
        self.address = f"tcp://127.0.0.1:{free_port()}"
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        dask = Path(sys.executable).parent / "dask"
        self.processes = [
            self._start(
                [
                    dask,
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    self.address.rsplit(":", 1)[1],
                    "--dashboard-address",
                    ":0",
                ],
                env,
                log_dir / "scheduler.log",
            )
        ]
        self.workers = [
            self._start(
                [
                    dask,
                    "worker",
                    self.address,
                    "--no-nanny",
                    "--nthreads",
                    "1",
                    "--dashboard-address",
                    ":0",
                ],
                env,
                log_dir / f"worker-{index}.log",
            )
            for index in range(n_workers)
        ]
        self.processes += self.workers

    @staticmethod
    def _start(command: list, env: dict, log: Path) -> subprocess.Popen:
        # The child keeps its own copy of the log's descriptor.
        with log.open("w") as out:
            return subprocess.Popen(
                [str(part) for part in command],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
            )

    def close(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def cluster(tmp_path):
    from distributed import Client

    running = Cluster(2, tmp_path)
    try:
        with Client(running.address, timeout=120) as client:
            client.wait_for_workers(2, timeout=120)
        yield running
    finally:
        running.close()


def kill_a_busy_worker(cluster: Cluster, home: Path, run_id: str, killed: list) -> None:
    """Once a shard is stored and while samples are still missing, kill -9 a worker
    process that is running a shard."""
    from distributed import Client

    deadline = time.monotonic() + 600
    with Client(cluster.address, timeout=60) as client:
        pids = client.run(os.getpid)
        while time.monotonic() < deadline:
            done = stored(home, run_id)
            if done is not None and done >= N_PROMPTS * len(MODES):
                return  # too late: generation is over
            if done:
                busy = client.run(lambda dask_worker: dask_worker.state.executing_count)
                running = [pids[address] for address, count in busy.items() if count]
                if running:
                    os.kill(running[0], signal.SIGKILL)
                    killed.append((running[0], done))
                    return
            time.sleep(0.2)


def stored(home: Path, run_id: str) -> int | None:
    """Samples stored so far; None when the build's own open, in this process, collided
    with this one's (both put the schema in place)."""
    database = home / "factory.duckdb"
    if not database.exists():
        return 0
    try:
        with connect(database) as con:
            return con.execute(
                "SELECT count(*) FROM generations WHERE run_id = ?", [run_id]
            ).fetchone()[0]
    except duckdb.Error:
        return None


def test_a_worker_killed_mid_build_loses_and_duplicates_nothing(
    local_rows, cluster, tmp_path, models_root, prefect_harness
):
    home = make_home(tmp_path / "build", models_root)
    config = build_config(home, task_runner="dask", dask_address=cluster.address, shard_size=1)
    killed: list[tuple[int, int]] = []
    killer = threading.Thread(
        target=kill_a_busy_worker, args=(cluster, home, "kill-1", killed), daemon=True
    )
    killer.start()
    build_dataset(config_file(config), run_id="kill-1", dry_run=True)
    killer.join(timeout=60)
    # A worker process died running a shard while samples were still being generated.
    assert killed, "no worker was running a shard while samples were missing"
    pid, stored_before = killed[0]
    assert pid in {worker.pid for worker in cluster.workers}
    assert 0 < stored_before < N_PROMPTS * len(MODES)
    assert sum(worker.poll() is not None for worker in cluster.workers) == 1
    found = rows(home, "kill-1")
    assert len({row[:3] for row in found}) == len(found) == N_PROMPTS * len(MODES)
    assert found == local_rows
