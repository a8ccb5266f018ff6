"""A build killed mid-generation and re-run with its run id loses and duplicates nothing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from typer.testing import CliRunner

from tessy_factory.cli import app
from tessy_factory.db import connect

RUN_ID = "crash-1"
N_PROMPTS = 4
MODES = ["tessy", "student-only"]


def tessy(home: Path, config: Path, env: dict, *flags: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "tessy_factory.cli", "build", str(config), "--run-id", RUN_ID]
    return subprocess.Popen(
        [*command, "--home", str(home), *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        # Its own process group, so the kill takes the temporary Prefect server with it.
        start_new_session=True,
    )


def read_until_samples(process: subprocess.Popen, samples: int, timeout: float) -> str:
    """The build's log until it reports `samples` generated."""
    deadline, seen = time.monotonic() + timeout, []
    for line in process.stdout:
        seen.append(line)
        if f"generation {samples}/" in line or time.monotonic() > deadline:
            break
    return "".join(seen)


def kill_after_samples(process: subprocess.Popen, samples: int, timeout: float) -> str:
    """Read the build's log until it reports `samples` generated, then SIGKILL its whole
    process tree, as a crash of the machine would."""
    seen = read_until_samples(process, samples, timeout)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return seen


def generations(home: Path) -> dict[str, str]:
    with connect(home / "factory.duckdb") as con:
        return dict(con.execute("SELECT sample_id, text FROM generations").fetchall())


def test_killed_build_resumes_without_duplicates_or_losses(tmp_path, models_root, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(models_root, target_is_directory=True)
    config = tmp_path / "build.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "crash",
                "sources": [{"kind": "demo", "count": N_PROMPTS, "seed": 7}],
                "generation": {"modes": MODES, "max_total_tokens": 512},
            }
        )
    )
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PYTHONUNBUFFERED": "1"}

    build = tessy(home, config, env)
    log = read_until_samples(build, samples=1, timeout=240)
    # The build holds the database only while it stores a sample: a reader gets its turn
    # while the next ones are generated, not once generation is over.
    monkeypatch.setenv("TESSY_DB_LOCK_TIMEOUT_S", "30")
    with connect(home / "factory.duckdb", read_only=True) as con:
        read = con.execute("SELECT count(*) FROM generations").fetchone()[0]
    assert 1 <= read < N_PROMPTS * len(MODES)
    log += kill_after_samples(build, samples=3, timeout=240)
    assert "generation 3/" in log, log[-3000:]
    before = generations(home)
    assert 3 <= len(before) < N_PROMPTS * len(MODES)
    # Its process is gone: the run shows as interrupted, not as running forever.
    listed = CliRunner().invoke(app, ["runs", "--home", str(home)], env={"COLUMNS": "240"})
    assert listed.exit_code == 0, listed.output
    assert re.search(rf"^{RUN_ID} +interrupted ", listed.output, re.M), listed.output

    # Finished as a dry run first: everything but publishing.
    finished = tessy(home, config, env, "--dry-run")
    output, _ = finished.communicate(timeout=400)
    assert finished.returncode == 0, output[-3000:]
    assert f"Dry run {RUN_ID} finished; nothing published" in output

    after = generations(home)
    assert len(after) == N_PROMPTS * len(MODES)
    assert {sid: after[sid] for sid in before} == before  # nothing regenerated or lost
    assert f"{N_PROMPTS * len(MODES) - len(before)} samples to write" in output
    assert release(home) == ("dry-run", None, 0)
    published = tessy(home, config, env)
    output, _ = published.communicate(timeout=400)
    assert published.returncode == 0, output[-3000:]
    assert f"Build {RUN_ID} published" in output and generations(home) == after
    status, version, releases = release(home)
    assert status == "completed" and releases == 1 and version.startswith("v")


def release(home: Path) -> tuple[str, str | None, int]:
    """The run's status and version, and how many releases the factory made."""
    with connect(home / "factory.duckdb") as con:
        status, version = con.execute(
            "SELECT status, version FROM runs WHERE run_id = ?", [RUN_ID]
        ).fetchone()
        releases = con.execute("SELECT count(*) FROM releases").fetchone()[0]
    return status, version, releases
