"""A crash between the local hub's commit and its tag is tagged on resume, not committed
again. Real DuckDB, real git, the real publish task under Prefect's test harness."""

from __future__ import annotations

import subprocess
from datetime import date, datetime
from pathlib import Path

import pytest

from tasks.publishing import publish
from tessy_factory.config import BuildConfig
from tessy_factory.db import connect, sql
from tessy_factory.home import FactoryHome
from tessy_factory.publish.hub import PublishError
from tessy_factory.publish.local_hub import repo_path
from tessy_factory.publish.version import Release, next_version, release_message

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
    with connect(home.database) as con:
        if con.execute(sql("run_get"), [run_id]).fetchone() is None:
            row = [run_id, config.name, config.model_dump_json(), config.fingerprint()]
            con.execute(sql("run_insert"), [*row, datetime.now()])
    return publish(run_id, config, home, f"# Report {run_id}\n", **flags)


def releases(home: FactoryHome) -> list[tuple[str, str]]:
    with connect(home.database) as con:
        return con.execute("SELECT run_id, version FROM releases ORDER BY created_at").fetchall()


def git(repo: Path, *args: str) -> str:
    command = ["git", "-C", str(repo), *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


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
