"""Tests of the `tessy` command line through typer's runner, on a throwaway factory home."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tasks.runs import close_run, open_run
from tessy_factory.cli import app
from tessy_factory.config import BuildConfig
from tessy_factory.db import connect, sql
from tessy_factory.home import FactoryHome
from tessy_factory.predictors.config import PredictorTrainingConfig
from tessy_factory.predictors.registry import RegisteredPredictor, register

COMMANDS = [
    [],
    ["build"],
    ["runs"],
    ["report"],
    ["models"],
    ["models", "tiny"],
    ["predictors"],
    ["predictors", "train"],
    ["probe"],
    ["predictors", "list"],
]


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    # Wide, so rich does not wrap the paths and messages the tests look for.
    monkeypatch.setenv("COLUMNS", "240")
    return CliRunner()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "tessy")
def test_every_command_has_help(runner: CliRunner, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_help_lists_the_commands(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"])
    for name in ("build", "runs", "report", "models", "predictors"):
        assert name in result.output


def test_build_with_a_bad_config_exits_2_naming_the_field(
    runner: CliRunner, tmp_path: Path
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("generation:\n  modes: [tessy, teacher]\n", encoding="utf-8")
    result = runner.invoke(app, ["build", str(config), "--home", str(tmp_path / "home")])
    assert result.exit_code == 2, result.output
    assert "generation.modes.1" in result.output
    assert "bad.yaml" in result.output
    # Refused before anything ran: no database was made in the home.
    assert not (tmp_path / "home" / "factory.duckdb").exists()


def test_build_with_a_missing_config_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["build", str(tmp_path / "absent.yaml"), "--home", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "no such config file" in result.output


def new_factory(root: Path) -> FactoryHome:
    """A factory home with its (empty) database, as a first build leaves it."""
    home = FactoryHome.resolve(root)
    with connect(home.database):
        pass
    return home


def test_runs_on_an_empty_home_says_there_are_no_builds(runner: CliRunner, tmp_path: Path) -> None:
    new_factory(tmp_path)
    result = runner.invoke(app, ["runs", "--home", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "no builds yet" in result.output


def test_runs_shows_builds_and_predictor_runs_apart_within_80_columns(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = FactoryHome.resolve(tmp_path)
    build_id, training_id = "demo-20260102-030405-abcd", "tiny-20260102-040506-ef01"
    open_run.fn(build_id, BuildConfig(), home, {})
    open_run.fn(training_id, predictor_config(), home, {})
    close_run.fn(training_id, home)
    with connect(home.database) as con:
        con.execute(sql("run_set_version"), ["v2026.01.02-1", build_id])
        for role in ("teacher", "student"):
            register(
                con,
                RegisteredPredictor(
                    f"tiny-{role}", role, "/p", "base", "lexicon", {}, training_id, datetime.now()
                ),
            )
    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(app, ["runs", "--home", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80, result.output
    lines = [line.rstrip() for line in result.output.splitlines()]
    builds, training = lines.index("Builds"), lines.index("Predictor training runs")
    # Each run in its own table, on one line, whole.
    [build_line] = [line for line in lines if build_id in line]
    [training_line] = [line for line in lines if training_id in line]
    assert builds < lines.index(build_line) < training < lines.index(training_line)
    assert "running" in build_line and "v2026.01.02-1" in build_line
    assert "completed" in training_line and "tiny-teacher tiny-student" in training_line


def predictor_config() -> PredictorTrainingConfig:
    traces = {"traces": {"file": "traces.jsonl"}}
    return PredictorTrainingConfig.model_validate(
        {
            "name": "tiny",
            "teacher": traces,
            "student": traces,
            "training": {"base_model": "miniature:teacher"},
        }
    )


def test_reading_commands_refuse_a_missing_home_and_create_nothing(
    runner: CliRunner, tmp_path: Path
) -> None:
    typo = tmp_path / "typo"
    for command in (["runs"], ["report", "run-7"]):
        result = runner.invoke(app, [*command, "--home", str(typo)])
        assert result.exit_code == 1, result.output
        assert "no factory at" in result.output and "typo" in result.output
    assert not typo.exists()


def test_report_of_an_unknown_run_exits_1_naming_it(runner: CliRunner, tmp_path: Path) -> None:
    new_factory(tmp_path)
    result = runner.invoke(app, ["report", "no-such-run", "--home", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "no-such-run" in result.output


def test_report_shows_a_runs_markdown(runner: CliRunner, tmp_path: Path) -> None:
    home = new_factory(tmp_path)
    (home.reports / "run-7.md").write_text("# Build run-7\n\nPublished 12 rows.\n")
    result = runner.invoke(app, ["report", "run-7", "--home", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Build run-7" in result.output
    assert "Published 12 rows." in result.output


def test_a_yaml_error_is_shown_verbatim_even_with_brackets(
    runner: CliRunner, tmp_path: Path
) -> None:
    config = tmp_path / "brackets.yaml"
    config.write_text("generation:\n  modes: [tessy] [/x]\n", encoding="utf-8")
    result = runner.invoke(app, ["build", str(config), "--home", str(tmp_path / "home")])
    assert result.exit_code == 2, result.output
    assert "modes: [tessy] [/x]" in result.output


def test_report_of_an_unknown_run_with_brackets_names_it(runner: CliRunner, tmp_path: Path) -> None:
    new_factory(tmp_path)
    result = runner.invoke(app, ["report", "[/x]", "--home", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "'[/x]'" in result.output


def test_build_refuses_a_run_id_that_is_not_a_safe_name(tmp_path) -> None:
    result = CliRunner().invoke(
        app, ["build", "configs/demo.yaml", "--run-id", "../escape", "--home", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "run id '../escape'" in result.output
    assert not (tmp_path / "factory.duckdb").exists()


def test_models_tiny_refuses_an_unknown_world_naming_it(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["models", "tiny", "--world", "atlantis", "--home", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "'atlantis'" in result.output and "paper" in result.output
    assert not (tmp_path / "models").exists(), "refused before the home was made"


def test_the_command_line_starts_without_torch() -> None:
    # torch takes seconds to import: `tessy runs`, run in a loop during a build, must not.
    check = "import sys, tessy_factory.cli; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert done.stdout == "False\n", done.stdout + done.stderr
