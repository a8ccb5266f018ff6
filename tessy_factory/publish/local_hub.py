"""The local hub: each dataset repo is a git repository on disk, laid out as on the Hub.

The working tree always holds the latest version, so `datasets.load_dataset(str(path))`
loads it; every version is one commit with an annotated tag, and `checkout_version` makes a
working copy of any of them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd

from tessy_factory.publish.hub import PublishError
from tessy_factory.publish.version import (
    CARD_FILE,
    DATA_DIR,
    HTML_REPORT_FILE,
    REPORT_FILE,
    Release,
    check_version,
    release_files,
    release_message,
    released_run,
)

REPO_ID_PATTERN = re.compile(r"^[\w.-]+/[\w.-]+$")

# Repo-local settings so commits and tags work on machines with no git identity and are
# not blocked by a user's signing configuration.
REPO_SETTINGS = {
    "user.name": "Tessy Factory",
    "user.email": "tessy-factory@localhost",
    "commit.gpgsign": "false",
    "tag.gpgsign": "false",
}


def repo_path(hub_root: Path, repo_id: str) -> Path:
    """Where `repo_id` ("owner/name") lives under `hub_root`."""
    owner, _, name = repo_id.partition("/")
    if not REPO_ID_PATTERN.match(repo_id) or {owner, name} & {".", ".."}:
        raise ValueError(f"repo_id {repo_id!r}: expected owner/name")
    return Path(hub_root) / owner / name


def publish_local(
    hub_root: Path,
    repo_id: str,
    rows: pd.DataFrame,
    card: str,
    report: str,
    version: str,
    run_id: str,
    *,
    html_report: str,
) -> Release:
    """Write one version of `repo_id` as a single commit tagged `version`.

    The tag message names the run, so a build that crashed after pushing finds its version
    (`version_of_run`) instead of pushing the same rows again.
    """
    check_version(version)
    repo = _ensure_repo(repo_path(hub_root, repo_id))
    if version in _tags(repo):
        raise ValueError(f"version {version} already exists in {repo_id} at {repo}")
    files = release_files(rows, card, report, html_report)
    # A version is a full snapshot: drop every data file of the previous one.
    shutil.rmtree(repo / DATA_DIR, ignore_errors=True)
    for relative, data in files.items():
        target = repo / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    _git(repo, "add", "--all", "--", DATA_DIR, CARD_FILE, REPORT_FILE, HTML_REPORT_FILE)
    # --allow-empty: republishing an identical snapshot is still one commit per release.
    message = release_message(version, run_id)
    _git(repo, "commit", "--quiet", "--allow-empty", "-m", message)
    _tag(repo, version, message, "HEAD")
    return Release(
        repo_id=repo_id,
        version=version,
        location=str(repo),
        commit_sha=_git(repo, "rev-parse", "HEAD"),
        n_rows=len(rows),
    )


def existing_versions(hub_root: Path, repo_id: str) -> list[str]:
    """The versions (tags) of `repo_id`, oldest first; empty if the repo does not exist yet."""
    repo = repo_path(hub_root, repo_id)
    return _tags(repo) if (repo / ".git").exists() else []


def tag_commits(hub_root: Path, repo_id: str) -> dict[str, str]:
    """Each version (tag) of `repo_id` with the commit it points to; empty if the repo does not
    exist yet."""
    repo = repo_path(hub_root, repo_id)
    if not (repo / ".git").exists():
        return {}
    # %(*objectname) is an annotated tag's commit; a lightweight tag is its commit itself.
    listing = _git(
        repo, "for-each-ref", "refs/tags", "--format=%(refname:short) %(objectname) %(*objectname)"
    )
    commits = {}
    for line in listing.splitlines():
        tag, target, *peeled = line.split()
        commits[tag] = peeled[0] if peeled else target
    return commits


def version_of_run(hub_root: Path, repo_id: str, run_id: str) -> str | None:
    """The version an earlier attempt of `run_id` already pushed, if any.

    An attempt that crashed between its commit and its tag left the newest commit untagged:
    it is tagged here with the version its message names (not the one a resume would number
    today), so the resume does not commit the same release again.
    """
    repo = repo_path(hub_root, repo_id)
    if not (repo / ".git").exists():
        return None
    listing = _git(repo, "tag", "--list", "--format=%(refname:short) %(contents:subject)")
    for line in listing.splitlines():
        version, _, subject = line.partition(" ")
        if released_run(subject) == (version, run_id):
            return version
    return _tag_unfinished_release(repo, run_id)


def commit_of(hub_root: Path, repo_id: str, version: str) -> str:
    """The commit a version's tag points to."""
    return _git(repo_path(hub_root, repo_id), "rev-list", "-n", "1", version)


def checkout_version(hub_root: Path, repo_id: str, version: str, dest: Path) -> Path:
    """Make `dest` a working copy of `version`, loadable with `datasets.load_dataset(str(dest))`."""
    known = existing_versions(hub_root, repo_id)
    if version not in known:
        raise ValueError(f"version {version!r} not found in {repo_id}; versions: {known}")
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise ValueError(f"dest {dest}: exists and is not empty")
    repo = repo_path(hub_root, repo_id)
    _git(repo, "clone", "--quiet", "--branch", version, str(repo.resolve()), str(dest.resolve()))
    return dest


def _ensure_repo(repo: Path) -> Path:
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        _git(repo, "init", "--quiet", "--initial-branch", "main")
        for key, value in REPO_SETTINGS.items():
            _git(repo, "config", key, value)
    return repo


def _tag_unfinished_release(repo: Path, run_id: str) -> str | None:
    """Tag the newest commit if it is `run_id`'s release and its version is still free."""
    # --branches, not HEAD: a repo a crash left before its first commit has no HEAD commit.
    newest = _git(repo, "log", "-1", "--branches", "--format=%H %s")
    commit, _, subject = newest.partition(" ")
    released = released_run(subject)
    if released is None or released[1] != run_id or released[0] in _tags(repo):
        return None
    _tag(repo, released[0], subject, commit)
    return released[0]


def _tag(repo: Path, version: str, message: str, commit: str) -> None:
    # Annotated: the tag message names the run, which `version_of_run` reads.
    _git(repo, "tag", "-a", version, "-m", message, commit)


def _tags(repo: Path) -> list[str]:
    # version:refname compares the numbers numerically, so -10 sorts after -9.
    return _git(repo, "tag", "--list", "--sort=version:refname").splitlines()


def _git(repo: Path, *args: str) -> str:
    command = ["git", "-C", str(repo), *args]
    try:
        done = subprocess.run(command, check=True, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise PublishError("git is not installed or not on PATH; the local hub needs it") from exc
    except subprocess.CalledProcessError as exc:
        raise PublishError(
            f"git {' '.join(args)} failed in {repo} (exit {exc.returncode}): {exc.stderr.strip()}"
        ) from exc
    return done.stdout.strip()
