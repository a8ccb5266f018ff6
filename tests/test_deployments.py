"""End to end on a real Prefect server: deployments/prefect.yaml deployed to a process work
pool, a worker, every deployment run with its defaults, the build once with a one-key
override (as `prefect deployment run --param` sends it) and once with an unknown key; the
UI's deployment and flow run pages are screenshot with headless chromium."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tessy_factory.db import connect
from tessy_factory.fingerprint import differing_keys
from tessy_factory.publish.local_hub import existing_versions

ROOT = Path(__file__).resolve().parent.parent
PREFECT = str(Path(sys.executable).parent / "prefect")
# Where the screenshots go: CI keeps this folder as an artifact; docs/ has copies.
ARTIFACTS = Path(os.environ.get("TESSY_TEST_ARTIFACTS", ROOT / "test-artifacts"))
STARTUP_S = 180
# The demo predictors' defaults train on 2 x 1,000 windows: minutes on a 2-core machine.
RUNS_S = 2400
# The README's example: one key of configs/demo.yaml changed, in a dry run.
OVERRIDE = {"sources": [{"kind": "demo", "count": 3, "seed": 7}]}
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@dataclass(frozen=True)
class Server:
    """A Prefect server with the factory deployed and a worker polling its pool."""

    url: str
    env: dict[str, str]
    home: Path
    logs: Path

    def prefect(self, *args: str) -> str:
        done = subprocess.run(
            [PREFECT, *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def api(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, f"{self.url}/api{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def run(self, deployment: str, *params: str) -> str:
        """Start `deployment` as the CLI does, with `--param key=json` each; the run's id."""
        args = [arg for param in params for arg in ("--param", param)]
        out = self.prefect("deployment", "run", deployment, *args)
        return re.search(r"UUID: ([0-9a-f-]{36})", out).group(1)

    def wait(self, run_ids: list[str]) -> dict[str, dict]:
        """Each run's final state, once every run has one."""
        deadline = time.monotonic() + RUNS_S
        states: dict[str, dict] = {}
        while len(states) < len(run_ids) and time.monotonic() < deadline:
            for run_id in set(run_ids) - set(states):
                state = self.api("GET", f"/flow_runs/{run_id}")["state"]
                if state["type"] in TERMINAL:
                    states[run_id] = state
            time.sleep(3)
        assert len(states) == len(run_ids), f"runs unfinished after {RUNS_S} s: {self.logs}"
        return states


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    """`args` running in a process group of its own, killed with all it started on exit."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_healthy(url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"the Prefect server did not start in {STARTUP_S} s: {log}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, models_root: Path) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("prefect-server")
    home = root / "factory"
    home.mkdir()
    (home / "models").symlink_to(models_root, target_is_directory=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PREFECT_HOME": str(root / "prefect"),
        "PREFECT_API_URL": f"{url}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "TESSY_REPO": str(ROOT),
        "TESSY_HOME": str(home),
        # The flow runs import flows/, tasks/ and tessy_factory/ of this checkout.
        "PYTHONPATH": str(ROOT),
    }
    logs = root / "logs"
    logs.mkdir()
    with ExitStack() as stack:
        start = [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
        stack.enter_context(process(start, env, logs / "server.log"))
        wait_healthy(url, logs / "server.log")
        served = Server(url, env, home, logs)
        served.prefect("work-pool", "create", "tessy-pool", "--type", "process")
        deploy = ["deploy", "--all", "--prefect-file", "deployments/prefect.yaml"]
        served.prefect("--no-prompt", *deploy)
        worker = [PREFECT, "worker", "start", "--pool", "tessy-pool"]
        stack.enter_context(process(worker, env, logs / "worker.log"))
        yield served


@pytest.fixture(scope="module")
def runs(server: Server) -> dict[str, str]:
    """Every deployment with its defaults, the build with one key overridden (a dry run) and
    with an unknown key: each run's flow run id, all finished."""
    started = {
        "build": server.run("build-dataset/nightly-demo"),
        "predictors": server.run("train-boundary-predictors/demo-predictors"),
        "override": server.run(
            "build-dataset/nightly-demo",
            # Other prompts: the default build's rows would be near-duplicates of these.
            f"overrides={json.dumps(OVERRIDE)}",
            "dry_run=true",
            "run_id=e2e-override",
        ),
        "unknown": server.run(
            "build-dataset/nightly-demo", 'overrides={"generation.max_total_tokns": 384}'
        ),
    }
    states = server.wait(list(started.values()))
    return {name: states[run_id] | {"id": run_id} for name, run_id in started.items()}


def build_configs(home: Path) -> dict[str, dict]:
    with connect(home / "factory.duckdb", read_only=True) as con:
        rows = con.execute("SELECT run_id, config, status FROM runs").fetchall()
    return {
        run_id: {"config": json.loads(config), "status": status}
        for run_id, config, status in rows
        if "teacher_predictor" in json.loads(config)
    }


def test_every_deployment_runs_with_its_defaults(runs: dict[str, dict], server: Server) -> None:
    for name in ("build", "predictors", "override"):
        assert runs[name]["type"] == "COMPLETED", (name, runs[name]["message"], server.logs)
    assert len(existing_versions(server.home / "hub", "tessy/demo")) == 1


def test_a_one_key_override_changes_only_that_key(runs: dict[str, dict], server: Server) -> None:
    builds = build_configs(server.home)
    override = builds.pop("e2e-override")
    (default,) = builds.values()
    assert differing_keys(default["config"], override["config"]) == [
        "sources[0].count (24 -> 3)",
        "sources[0].seed (2026 -> 7)",
    ]
    # The dry run published nothing: tessy/demo holds the default build's version alone.
    assert (default["status"], override["status"]) == ("completed", "dry-run")
    report = (server.home / "reports" / "e2e-override.md").read_text()
    assert "## Config" in report and "seed: 7" in report.split("## Config")[1]


def test_an_unknown_override_key_fails_the_run_naming_it(runs: dict[str, dict]) -> None:
    assert runs["unknown"]["type"] == "FAILED"
    assert (
        "generation.max_total_tokns: Extra inputs are not permitted" in (runs["unknown"]["message"])
    )


def test_the_ui_shows_the_run_form_and_a_finished_run(
    runs: dict[str, dict], server: Server, tmp_path: Path
) -> None:
    deployment = server.api("GET", "/deployments/name/build-dataset/nightly-demo")["id"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pages = {
        "prefect-deployment.png": f"/deployments/deployment/{deployment}",
        "prefect-run-form.png": f"/deployments/deployment/{deployment}/run",
        "prefect-flow-run.png": f"/runs/flow-run/{runs['build']['id']}",
    }
    for name, page in pages.items():
        shot = ARTIFACTS / name
        shot.unlink(missing_ok=True)
        subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={tmp_path / 'chromium'}",
                "--hide-scrollbars",
                "--virtual-time-budget=15000",
                "--window-size=1400,900",
                f"--screenshot={shot}",
                server.url + page,
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
        assert shot.stat().st_size > 10_000, shot
