"""Version numbers come from the factory's record as well as the target: a repo that lost
versions the factory published is refused, naming them, and `--allow-rewrite` publishes after
them; a crash between the local hub's commit and its tag is tagged on resume, not committed
again. Real DuckDB, real git, the real publish task and `tessy build` under Prefect's test
harness."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tasks.publishing import publish
from tasks.runs import open_run
from tessy_factory.cli import app
from tessy_factory.config import BuildConfig
from tessy_factory.db import connect, sql
from tessy_factory.home import FactoryHome
from tessy_factory.publish.hub import PublishError
from tessy_factory.publish.local_hub import repo_path
from tessy_factory.publish.version import (
    LostVersionsError,
    RecordedVersion,
    Release,
    next_version,
    release_message,
)

REPO_ID = BuildConfig().publish.repo_id


@pytest.fixture
def home(tmp_path: Path, models_root: Path) -> FactoryHome:
    root = tmp_path / "home"
    root.mkdir()
    (root / "models").symlink_to(models_root, target_is_directory=True)
    return FactoryHome.resolve(root)


def publish_run(home: FactoryHome, run_id: str, **flags: bool) -> Release:
    """Run the build's publish task for `run_id`, a recorded run that kept no rows (an
    empty version publishes like any other, and costs no generation)."""
    config = BuildConfig(home=str(home.root))
    open_run(run_id, config, home, sources={})
    return publish(run_id, config, home, f"# Report {run_id}\n", **flags)


def releases(home: FactoryHome) -> list[tuple[str, str]]:
    with connect(home.database) as con:
        return con.execute("SELECT run_id, version FROM releases ORDER BY created_at").fetchall()


def git(repo: Path, *args: str) -> str:
    command = ["git", "-C", str(repo), *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


class Messages(logging.Handler):
    """The messages Prefect's task loggers emit while attached."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_deleted_repo_is_refused_naming_its_lost_versions_and_allow_rewrite_goes_on(
    home: FactoryHome, prefect_harness
) -> None:
    first = publish_run(home, "run-a")
    second = publish_run(home, "run-b")
    # The repo deleted (by hand, or on the Hub), losing both versions.
    shutil.rmtree(repo_path(home.hub, REPO_ID))

    with pytest.raises(LostVersionsError) as caught:
        publish_run(home, "run-c")
    message = str(caught.value)
    assert REPO_ID in message and f"{first.version}, {second.version}" in message
    assert "--allow-rewrite" in message and "publish.repo_id" in message
    assert releases(home) == [("run-a", first.version), ("run-b", second.version)]

    watcher = logging.getLogger("prefect.task_runs")
    log = Messages()
    watcher.addHandler(log)
    try:
        rewritten = publish_run(home, "run-c", allow_rewrite=True)
    finally:
        watcher.removeHandler(log)
    # Numbering goes on after the factory's record, never reusing a published number.
    assert rewritten.version == next_version([second.version], date.today())
    assert any("lost" in m and first.version in m for m in log.messages), log.messages
    # The loss is reported once: the next build needs no flag.
    fourth = publish_run(home, "run-d")
    assert fourth.version == next_version([rewritten.version], date.today())
    assert [version for _, version in releases(home)] == [
        first.version,
        second.version,
        rewritten.version,
        fourth.version,
    ]


def test_a_replaced_repo_whose_tag_names_another_commit_is_refused(
    home: FactoryHome, prefect_harness
) -> None:
    first = publish_run(home, "run-a")
    # Another factory home published its own first version to a repo of the same name, and
    # that repo replaced this one: the same tag, another commit.
    elsewhere = FactoryHome.resolve(home.root.parent / "elsewhere")
    (elsewhere.root / "models").rmdir()
    (elsewhere.root / "models").symlink_to(home.models.resolve(), target_is_directory=True)
    other = publish_run(elsewhere, "run-other")
    shutil.rmtree(repo_path(home.hub, REPO_ID))
    shutil.copytree(repo_path(elsewhere.hub, REPO_ID), repo_path(home.hub, REPO_ID))
    assert other.version == first.version and other.commit_sha != first.commit_sha

    with pytest.raises(LostVersionsError, match=f"{REPO_ID}.*{first.version}"):
        publish_run(home, "run-b")
    assert releases(home) == [("run-a", first.version)]


def test_the_record_of_a_repo_is_per_target_and_knows_what_a_rewrite_reported(
    tmp_path: Path,
) -> None:
    v1, v2 = "v2026.11.27-1", "v2026.11.27-2"
    rows = [
        ("run-1", REPO_ID, v1, "/old/place/hub/tessy/demo", "c1", None),
        ("run-2", REPO_ID, v2, str(tmp_path / "hub/tessy/demo"), "c2", [v1]),
        ("run-3", "tessy/other", "v2026.11.27-3", "/hub/tessy/other", "c3", None),
        ("run-4", REPO_ID, v1, f"https://huggingface.co/datasets/{REPO_ID}", "h1", None),
    ]
    with connect(tmp_path / "factory.duckdb") as con:
        for run_id, repo_id, version, location, commit, lost in rows:
            values = [run_id, repo_id, version, location, commit, 0, datetime.now(), lost]
            con.execute(sql("insert_release"), values)

        def recorded(on_hub: bool) -> list[RecordedVersion]:
            found = con.execute(sql("recorded_versions"), {"repo_id": REPO_ID, "on_hub": on_hub})
            return [RecordedVersion(*row) for row in found.fetchall()]

        # The local hub's record, wherever the home was; the Hub's apart from it.
        assert recorded(on_hub=False) == [
            RecordedVersion(v1, "c1", reported_lost=True),
            RecordedVersion(v2, "c2", reported_lost=False),
        ]
        assert recorded(on_hub=True) == [RecordedVersion(v1, "h1", reported_lost=False)]


def test_a_crash_between_commit_and_tag_is_tagged_on_resume_not_committed_again(
    home: FactoryHome, prefect_harness
) -> None:
    publish_run(home, "run-a")
    repo = repo_path(home.hub, REPO_ID)
    version = next_version(git(repo, "tag", "--list").splitlines(), date.today())
    # A held lock on the tag's ref makes `git tag` fail after the commit, as a crash there
    # would leave it: the release commit made, untagged, and nothing recorded.
    lock = repo / ".git" / "refs" / "tags" / f"{version}.lock"
    lock.touch()
    with pytest.raises(PublishError, match="tag"):
        publish_run(home, "run-b")
    lock.unlink()
    assert git(repo, "log", "-1", "--format=%s") == release_message(version, "run-b")

    resumed = publish_run(home, "run-b")

    subjects = git(repo, "log", "--format=%s").splitlines()
    assert subjects.count(release_message(version, "run-b")) == 1, subjects
    assert resumed.version == version
    assert git(repo, "rev-parse", f"{version}^{{commit}}") == resumed.commit_sha
    assert git(repo, "rev-parse", "HEAD") == resumed.commit_sha
    assert git(repo, "cat-file", "-t", version) == "tag"  # annotated, as every release
    assert releases(home)[-1] == ("run-b", version)


def test_tessy_build_refuses_a_lost_version_in_one_line_and_resumes_with_allow_rewrite(
    tmp_path: Path, home: FactoryHome, prefect_harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "240")  # rich must not wrap the error line
    config = tmp_path / "build.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "sources": [{"kind": "demo", "count": 1, "seed": 5}],
                "generation": {"modes": ["student-only"], "max_total_tokens": 256},
                "curation": {"require_accepted": False, "min_rows_to_publish": 0},
            }
        )
    )

    def tessy(run_id: str, *flags: str):
        command = ["build", str(config), "--run-id", run_id, "--home", str(home.root), *flags]
        return CliRunner().invoke(app, command)

    first = tessy("build-a")
    assert first.exit_code == 0, first.output
    version = releases(home)[0][1]
    shutil.rmtree(repo_path(home.hub, REPO_ID))

    refused = tessy("build-b")
    assert refused.exit_code == 1, refused.output
    # One line, whole: from `error:` to the way on. (Model loading's progress bar, on
    # stderr, may share the line.)
    error = [line for line in refused.output.splitlines() if "error:" in line]
    assert len(error) == 1, refused.output
    assert re.search(rf"error: dataset repo {REPO_ID} lost .*{version}.*--allow-rewrite", error[0])
    resume = f"tessy build {config} --run-id build-b --home {home.root}"
    assert error[0].endswith(f"publish.repo_id (run build-b; resume with: {resume})"), error[0]
    with connect(home.database) as con:
        status = con.execute("SELECT status FROM runs WHERE run_id = 'build-b'").fetchone()[0]
    assert status == "failed"

    resumed = tessy("build-b", "--allow-rewrite")
    assert resumed.exit_code == 0, resumed.output
    assert f"as {next_version([version], date.today())}" in resumed.output
    assert git(repo_path(home.hub, REPO_ID), "tag", "--list").splitlines() == [
        next_version([version], date.today())
    ]
