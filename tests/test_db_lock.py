"""One factory home, several processes: a reader waits for a build's short spell on the
database instead of crashing; a writer that waits too long stops with one line naming the
process that holds the database; a run whose process died shows as `interrupted`, and a run
that a live process is building is not opened a second time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tasks.runs import RunConflict, open_run
from tessy_factory.cli import app
from tessy_factory.config import BuildConfig
from tessy_factory.db import connect
from tessy_factory.home import FactoryHome

# Holds the database read-write, as a build does during one of its spells on it.
HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
"""

# Opens runs as a build does, then stays alive for a while (or exits at once, as a crash).
OPEN = """
import sys, time
from tasks.runs import open_run
from tessy_factory.config import BuildConfig
from tessy_factory.home import FactoryHome
home = FactoryHome.resolve(sys.argv[1])
for run_id in sys.argv[3:]:
    open_run.fn(run_id, BuildConfig(), home, {})
print("opened", flush=True)
time.sleep(float(sys.argv[2]))
"""


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    # Wide, so rich does not wrap the one-line messages the tests look for.
    monkeypatch.setenv("COLUMNS", "1000")
    return CliRunner()


@contextmanager
def other_process(script: str, *args: object) -> Iterator[subprocess.Popen]:
    """`script` running in another process until its first line is out; killed on exit."""
    process = subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline() in {"holding\n", "opened\n"}
        yield process
    finally:
        process.kill()
        process.wait()


def factory_with_a_run(root: Path) -> FactoryHome:
    home = FactoryHome.resolve(root)
    open_run.fn("run-7", BuildConfig(), home, {})
    return home


def status_of(output: str, run_id: str) -> str:
    """The status column of `run_id`'s row in `tessy runs`."""
    (line,) = [line for line in output.splitlines() if line.split()[:1] == [run_id]]
    return line.split()[1]


def test_runs_waits_for_a_builds_spell_on_the_database(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = factory_with_a_run(tmp_path)
    monkeypatch.setenv("TESSY_DB_LOCK_TIMEOUT_S", "30")
    with other_process(HOLD, home.database, 2):
        started = time.monotonic()
        result = runner.invoke(app, ["runs", "--home", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert status_of(result.output, "run-7") == "running"
    assert time.monotonic() - started < 30


def test_a_reader_gives_up_after_the_wait_naming_the_holder(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = factory_with_a_run(tmp_path)
    monkeypatch.setenv("TESSY_DB_LOCK_TIMEOUT_S", "1")
    with other_process(HOLD, home.database, 60, "--token=s3cret") as holder:
        result = runner.invoke(app, ["runs", "--home", str(tmp_path)])
    assert result.exit_code == 1, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: ")
    assert str(home.database) in line and f"process {holder.pid} (python" in line
    assert "--home" in line and "TESSY_DB_LOCK_TIMEOUT_S" in line
    # Not a tessy command: its arguments, which might hold a secret, are not shown.
    assert "s3cret" not in line


def test_a_run_whose_process_is_gone_shows_as_interrupted(
    runner: CliRunner, tmp_path: Path
) -> None:
    home = FactoryHome.resolve(tmp_path)
    # Opened by a process that then ended without closing them, as a killed build does.
    with other_process(OPEN, tmp_path, 0, "gone", "reused", "elsewhere") as opener:
        opener.wait()
    open_run.fn("mine", BuildConfig(), home, {})
    with connect(home.database) as con:
        # The pid of "reused" now belongs to a live process (this one) that started later.
        con.execute("UPDATE runs SET owner_pid = ? WHERE run_id = 'reused'", [os.getpid()])
        # A process on another host cannot be checked from here.
        con.execute("UPDATE runs SET owner_host = 'another-host' WHERE run_id = 'elsewhere'")
    result = runner.invoke(app, ["runs", "--home", str(tmp_path)])
    assert result.exit_code == 0, result.output
    shown = {run_id: status_of(result.output, run_id) for run_id in ("gone", "reused", "mine")}
    assert shown == {"gone": "interrupted", "reused": "interrupted", "mine": "running"}
    assert status_of(result.output, "elsewhere") == "running"


def test_a_run_a_live_process_is_building_is_not_opened_again(tmp_path: Path) -> None:
    home = FactoryHome.resolve(tmp_path)
    with (
        other_process(OPEN, tmp_path, 60, "busy") as builder,
        pytest.raises(RunConflict, match=rf"process {builder.pid} on "),
    ):
        open_run.fn("busy", BuildConfig(), home, {})
    # Once that process is gone, the run resumes as an interrupted one does.
    assert open_run.fn("busy", BuildConfig(), home, {}) is True


def test_a_build_that_cannot_get_the_database_stops_with_one_line(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness
) -> None:
    home = FactoryHome.resolve(tmp_path / "home")
    with connect(home.database):
        pass
    # A space in the path: the resume command is quoted so that it pastes into a shell.
    config = tmp_path / "my configs" / "tiny.yaml"
    config.parent.mkdir()
    config.write_text(yaml.safe_dump({"name": "tiny", "sources": [{"kind": "demo", "count": 1}]}))
    monkeypatch.setenv("TESSY_DB_LOCK_TIMEOUT_S", "1")
    command = ["build", str(config), "--home", str(home.root), "--run-id", "tiny-1"]
    with other_process(HOLD, home.database, 60) as holder:
        result = runner.invoke(app, command)
    assert result.exit_code == 1, result.output
    resume = f"tessy build '{config}' --run-id tiny-1 --home {home.root}"
    lines = result.output.strip().splitlines()
    # The run id comes first, before Prefect starts; the error, one line, comes last.
    assert f"run tiny-1 (resume with: {resume})" in lines
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == [lines[-1]]
    assert str(home.database) in errors[0] and f"process {holder.pid}" in errors[0]
    assert f"resume with: {resume}" in errors[0]
