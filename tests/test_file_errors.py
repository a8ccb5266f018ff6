"""File system faults, made real with bubblewrap mounts: a read-only home still lists its runs
and shows its reports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tasks.runs import open_run
from tessy_factory.config import BuildConfig
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
    open_run.fn("run-7", BuildConfig(), home)
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
