"""The Hugging Face Hub backend: one commit per version, then a tag naming it.

Hub failures (offline mode, no connection, HTTP errors) surface as `PublishError` with a
message naming the repo and the cause. The token never appears in a message: causes are
scrubbed of it and not chained, so no traceback can carry it either.
"""

from __future__ import annotations

# httpx2 is huggingface_hub's HTTP client; its transport errors are how a failed connection
# reaches us (OfflineModeIsEnabled is a ConnectionError).
import httpx2
import pandas as pd
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from tessy_factory.publish.version import (
    DATA_DIR,
    Release,
    check_version,
    release_files,
    release_message,
    released_run,
)

HUB_ERRORS = (ConnectionError, httpx2.TransportError, HfHubHTTPError)


class PublishError(RuntimeError):
    """A release could not be published; the message names the repository and the cause."""


def publish_hub(
    repo_id: str,
    rows: pd.DataFrame,
    card: str,
    report: str,
    version: str,
    token: str | None,
    private: bool,
    run_id: str,
    *,
    html_report: str,
) -> Release:
    """Push one version to the dataset repo `repo_id` in one commit and tag it `version`."""
    check_version(version)
    files = release_files(rows, card, report, html_report)
    api = HfApi(token=token)
    try:
        repo_url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if version in _tags(api, repo_id):
            raise ValueError(f"version {version} already exists in {repo_id}")
        # A version is a full snapshot: data files of earlier versions that this one does
        # not overwrite must go, or the data/train-* glob would pick them up.
        stale = [
            path
            for path in api.list_repo_files(repo_id, repo_type="dataset")
            if path.startswith(f"{DATA_DIR}/") and path not in files
        ]
        operations = [CommitOperationDelete(path_in_repo=path) for path in stale]
        operations += [
            CommitOperationAdd(path_in_repo=path, path_or_fileobj=data)
            for path, data in files.items()
        ]
        message = release_message(version, run_id)
        commit = api.create_commit(repo_id, operations, repo_type="dataset", commit_message=message)
        api.create_tag(
            repo_id, repo_type="dataset", tag=version, tag_message=message, revision=commit.oid
        )
    except HUB_ERRORS as exc:
        raise PublishError(_describe(f"cannot publish {version} to", repo_id, exc, token)) from None
    return Release(
        repo_id=repo_id,
        version=version,
        location=str(repo_url),
        commit_sha=commit.oid,
        n_rows=len(rows),
    )


def tag_commits(repo_id: str, token: str | None) -> dict[str, str]:
    """Each tag of the dataset repo `repo_id` on the Hub with the commit it points to; empty
    when the repo does not exist yet."""
    api = HfApi(token=token)
    try:
        refs = api.list_repo_refs(repo_id, repo_type="dataset")
    except RepositoryNotFoundError:
        return {}
    except HUB_ERRORS as exc:
        raise PublishError(_describe("cannot list versions of", repo_id, exc, token)) from None
    return {ref.name: ref.target_commit for ref in refs.tags}


def version_of_run(repo_id: str, run_id: str, token: str | None) -> tuple[str, str] | None:
    """(version, commit) an earlier attempt of `run_id` pushed, tagging it if the tag was
    lost; None when no attempt pushed."""
    api = HfApi(token=token)
    try:
        commits = api.list_repo_commits(repo_id, repo_type="dataset")
        for commit in commits:
            released = released_run(commit.title)
            if released is not None and released[1] == run_id:
                version = released[0]
                if version not in _tags(api, repo_id):
                    message = release_message(version, run_id)
                    api.create_tag(
                        repo_id,
                        repo_type="dataset",
                        tag=version,
                        tag_message=message,
                        revision=commit.commit_id,
                    )
                return version, commit.commit_id
    except RepositoryNotFoundError:
        return None
    except HUB_ERRORS as exc:
        raise PublishError(_describe("cannot list releases of", repo_id, exc, token)) from None
    return None


def _tags(api: HfApi, repo_id: str) -> list[str]:
    return [ref.name for ref in api.list_repo_refs(repo_id, repo_type="dataset").tags]


def _describe(what: str, repo_id: str, exc: Exception, token: str | None) -> str:
    cause = f"{type(exc).__name__}: {exc}"
    if token:
        cause = cause.replace(token, "***")
    return f"{what} dataset repo {repo_id} on the Hugging Face Hub: {cause}"
