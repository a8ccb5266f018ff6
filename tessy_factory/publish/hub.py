"""The Hugging Face Hub backend: one commit per version, then a tag naming it.

Hub failures (offline mode, no connection, HTTP errors) surface as `PublishError` with a
one-line message naming the repo and the cause, and whether the fault may pass (`transient`).
The token never appears in a message: causes are scrubbed of it and not chained, so no
traceback can carry it either.
"""

from __future__ import annotations

import json

# httpx2 is huggingface_hub's HTTP client; its transport errors are how a failed connection
# reaches us (OfflineModeIsEnabled is a ConnectionError).
import httpx2
import pandas as pd
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, constants
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError

from tessy_factory.publish.version import (
    DATA_DIR,
    Release,
    check_version,
    release_files,
    release_message,
    released_run,
)

# huggingface_hub reads some answers as JSON before it checks their status (the card check),
# so an HTML error page from a proxy or gateway in front of the Hub surfaces as a
# JSONDecodeError.
HUB_ERRORS = (ConnectionError, httpx2.TransportError, HfHubHTTPError, json.JSONDecodeError)
STATUS_LINK = "For more information check: https://developer.mozilla.org"


class PublishError(RuntimeError):
    """A release could not be published; the message names the repository and the cause.

    `transient`: the cause may pass (a 429 or 5xx answer, a dropped connection), so the
    publish is worth retrying; a refusal (401, 403, 404, a conflict) or bad input is not.
    """

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


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
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
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
        raise _failure(f"cannot publish {version} to", repo_id, exc, token) from None
    return Release(
        repo_id=repo_id,
        version=version,
        location=dataset_url(repo_id),
        commit_sha=commit.oid,
        n_rows=len(rows),
    )


def tag_commits(repo_id: str, token: str | None) -> dict[str, str]:
    """Each tag of the dataset repo `repo_id` on the Hub with the commit it points to; empty
    when the repo does not exist yet."""
    api = HfApi(token=token)
    try:
        refs = api.list_repo_refs(repo_id, repo_type="dataset")
    except HUB_ERRORS as exc:
        if _missing(exc):
            return {}
        raise _failure("cannot list versions of", repo_id, exc, token) from None
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
    except HUB_ERRORS as exc:
        if _missing(exc):
            return None
        raise _failure("cannot list releases of", repo_id, exc, token) from None
    return None


def dataset_url(repo_id: str) -> str:
    """The page of the dataset repo `repo_id` on the Hub that HF_ENDPOINT names, which a
    release records as its location (also when a resume finds the release on the Hub)."""
    return f"{constants.ENDPOINT}/datasets/{repo_id}"


def _missing(exc: Exception) -> bool:
    """Whether the Hub said the repo does not exist. Only a 404 says so: the 401 the Hub
    answers for a private repo the token cannot read (or no token) is an error, or a repo
    the factory published to would look emptied, its versions lost."""
    return isinstance(exc, RepositoryNotFoundError) and _status(exc) == 404


def _status(exc: HfHubHTTPError) -> int | None:
    return exc.response.status_code if exc.response is not None else None


def _tags(api: HfApi, repo_id: str) -> list[str]:
    return [ref.name for ref in api.list_repo_refs(repo_id, repo_type="dataset").tags]


def _failure(what: str, repo_id: str, exc: Exception, token: str | None) -> PublishError:
    # One line, as every error a user sees: huggingface_hub's messages span several lines,
    # one of them a generic link about the HTTP status, left out.
    lines = [line.strip() for line in f"{type(exc).__name__}: {exc}".splitlines()]
    cause = "; ".join(line for line in lines if line and not line.startswith(STATUS_LINK))
    if isinstance(exc, json.JSONDecodeError):
        cause = f"its answer is not JSON, likely a proxy's or gateway's error page ({cause})"
    if token:
        cause = cause.replace(token, "***")
    message = f"{what} dataset repo {repo_id} on the Hugging Face Hub: {cause}"
    return PublishError(message, transient=_transient(exc))


def _transient(exc: Exception) -> bool:
    """Whether the Hub fault may pass: a busy or failing server, or a lost connection. The
    offline switch is a setting, not a fault."""
    if isinstance(exc, HfHubHTTPError):
        status = _status(exc)
        return status is not None and (status == 429 or status >= 500)
    return not isinstance(exc, OfflineModeIsEnabled)
