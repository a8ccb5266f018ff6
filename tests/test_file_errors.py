"""File system faults, made real with bubblewrap mounts: a read-only home still lists its runs
and shows its reports; a build whose disk fills up, or that cannot write its report, stops
with one `error:` line naming the file, the cause and the command that resumes the run. A
run that can still be written is marked failed; one that cannot shows as interrupted once
its process is gone."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tasks.runs import open_run
from tessy_factory.config import BuildConfig
from tessy_factory.db import connect
from tessy_factory.home import FactoryHome

TESSY = [sys.executable, "-m", "tessy_factory.cli"]


def in_mounts(mounts: list[str], command: list[str], env: dict | None = None) -> str:
    """Run `command` seeing this machine's files with `mounts` on top; its exit code and
    output, as `rc=N` then the output."""
    done = subprocess.run(
        ["bwrap", "--dev-bind", "/", "/", *mounts, *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "1000", **(env or {})},
        timeout=600,
    )
    return f"rc={done.returncode}\n{done.stdout}"


def test_a_read_only_home_still_lists_runs_and_shows_reports(tmp_path: Path) -> None:
    home = FactoryHome.resolve(tmp_path / "home")
    open_run.fn("run-7", BuildConfig(), home, {})
    (home.reports / "run-7.md").write_text("# Build run-7\n")
    read_only = ["--ro-bind", str(home.root), str(home.root)]
    # The mount is what the test says it is: nothing in the home can be written.
    assert "Read-only file system" in in_mounts(read_only, ["touch", str(home.root / "x")])
    for command, expected in (
        (["runs"], "run-7"),
        (["report", "run-7"], "Build run-7"),
        (["predictors", "list"], "no predictors registered yet"),
    ):
        output = in_mounts(read_only, [*TESSY, *command, "--home", str(home.root)])
        assert output.startswith("rc=0\n") and expected in output, output


def build_config(tmp_path: Path) -> Path:
    """The smallest build: one demo prompt, written by the student alone."""
    config = tmp_path / "tiny.yaml"
    generation = {"modes": ["student-only"], "max_total_tokens": 512}
    sources = [{"kind": "demo", "count": 1, "seed": 7}]
    config.write_text(
        yaml.safe_dump({"name": "tiny", "sources": sources, "generation": generation})
    )
    return config


def one_error_line(output: str) -> str:
    """The build's last line, which must be its only `error:` line."""
    lines = output.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == [lines[-1]], output[-3000:]
    return errors[0]


@pytest.fixture
def prefect_env(prefect_harness, tmp_path: Path) -> dict[str, str]:
    """The environment of a build subprocess: it uses the session's Prefect server instead
    of starting its own, which takes half a minute on a loaded machine."""
    from prefect.settings import PREFECT_API_URL

    return {"PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_HOME": str(tmp_path / "prefect")}


# Inside the mounts: make the home, start the build, fill the disk once the run is open.
FILL_MID_BUILD = """
ln -s "$MODELS" "$HOME_DIR/models"
"$PYTHON" -c "from tessy_factory.db import connect; from tessy_factory.home import FactoryHome
with connect(FactoryHome.resolve('$HOME_DIR').database): pass"
"$PYTHON" -m tessy_factory.cli build "$CONFIG" --run-id full-1 --home "$HOME_DIR" > "$LOG" 2>&1 &
build=$!
until grep -q "open-run.*Completed" "$LOG" || ! kill -0 $build 2>/dev/null; do sleep 0.1; done
head -c 64M /dev/zero > "$HOME_DIR/filler" 2>/dev/null
wait $build
echo "rc=$?"
"$PYTHON" -m tessy_factory.cli runs --home "$HOME_DIR"
"""


def test_a_build_whose_disk_fills_up_stops_with_one_line_and_shows_interrupted(
    tmp_path: Path, models_root: Path, prefect_env: dict[str, str]
) -> None:
    config, home, log = build_config(tmp_path), tmp_path / "home", tmp_path / "build.log"
    home.mkdir()
    env = {
        **prefect_env,
        "PYTHON": sys.executable,
        "MODELS": str(models_root),
        "HOME_DIR": str(home),
        "CONFIG": str(config),
        "LOG": str(log),
    }
    full = ["--size", str(4 << 20), "--tmpfs", str(home)]
    after = in_mounts(full, ["sh", "-c", FILL_MID_BUILD], env)
    built = log.read_text()
    resume = f"tessy build {config} --run-id full-1 --home {home}"
    assert f"run full-1 (resume with: {resume})" in built, built[-3000:]
    error = one_error_line(built)
    assert "No space left on device" in error and str(home) in error
    assert error.endswith(f"(run full-1; resume with: {resume})")
    # Its failure could not be recorded on the full disk; its process is gone.
    assert "run full-1: not marked failed" in built
    assert "rc=1\n" in after and re.search(r"^full-1 +interrupted ", after, re.M), after


def test_a_build_that_cannot_write_its_report_is_marked_failed(
    tmp_path: Path, models_root: Path, prefect_env: dict[str, str]
) -> None:
    config = build_config(tmp_path)
    home = FactoryHome.resolve(tmp_path / "home")
    home.models.rmdir()
    home.models.symlink_to(models_root, target_is_directory=True)
    command = [*TESSY, "build", str(config), "--run-id", "ro-1", "--home", str(home.root)]
    read_only = ["--ro-bind", str(home.reports), str(home.reports)]
    output = in_mounts(read_only, command, prefect_env)
    assert output.startswith("rc=1\n"), output[-3000:]
    resume = f"tessy build {config} --run-id ro-1 --home {home.root}"
    assert f"run ro-1 (resume with: {resume})" in output
    error = one_error_line(output)
    assert error == (
        f"error: {home.reports / 'ro-1.md'}: Read-only file system "
        f"(run ro-1; resume with: {resume})"
    )
    with connect(home.database) as con:
        status, reason = con.execute(
            "SELECT status, error FROM runs WHERE run_id = 'ro-1'"
        ).fetchone()
    assert status == "failed" and "Read-only file system" in reason
