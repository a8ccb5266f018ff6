"""Task: push the kept rows as one new dataset version, with card and reports (markdown and HTML).

A transient Hub fault (a 429 or 5xx answer, a dropped connection) fails the publish task,
which Prefect retries with back-off and jitter (`publish.retries`, `publish.retry_delay_s`);
a retry finds a commit the failed attempt made (`hub.version_of_run`), so it never pushes a
version twice. A refusal (401, 403) or bad input is final.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from datetime import date, datetime

import duckdb
import pandas as pd
from filelock import FileLock, Timeout
from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from tasks.retrying import backoff
from tessy_factory import __version__
from tessy_factory.config import BuildConfig
from tessy_factory.curate.funnel import funnel
from tessy_factory.curate.near_dup import publish_signatures
from tessy_factory.curate.rows import published_rows
from tessy_factory.db import LOCK_TIMEOUT_ENV, connect, lock_timeout, sql
from tessy_factory.home import FactoryHome
from tessy_factory.publish import hub, local_hub
from tessy_factory.publish.card import render_card
from tessy_factory.publish.hub import PublishError
from tessy_factory.publish.revisions import model_revisions, stored_revisions
from tessy_factory.publish.version import RecordedVersion, Release, version_after
from tessy_factory.report import LOCAL_KEYS
from tessy_factory.report_html.data import Publication, gather
from tessy_factory.report_html.render import html_path, render


def publish_release(
    run_id: str, config: BuildConfig, home: FactoryHome, report: str, allow_rewrite: bool = False
) -> Release:
    """The publish task, retried after a transient Hub fault as `config.publish` says."""
    options = backoff(config.publish.retries, config.publish.retry_delay_s)
    return publish.with_options(**options)(run_id, config, home, report, allow_rewrite)


def _transient_fault(task: Task, task_run: TaskRun, state: State) -> bool:
    """Retry the publish task only for a Hub fault that may pass."""
    failure = state.result(raise_on_failure=False)
    return isinstance(failure, PublishError) and failure.transient


@task(name="publish", cache_policy=NO_CACHE, retry_condition_fn=_transient_fault)
def publish(
    run_id: str, config: BuildConfig, home: FactoryHome, report: str, allow_rewrite: bool = False
) -> Release:
    """Publish the run once: a resumed run returns the release an earlier attempt made.

    A target that lost versions this factory published is an error (LostVersionsError)
    unless `allow_rewrite`, which publishes after them and records the loss.
    """
    logger = get_run_logger()
    with connect(home.database) as con:
        earlier = con.execute(sql("release_of_run"), [run_id]).fetchone()
        if earlier is not None:
            logger.info("publish: run already released as %s", earlier[1])
            # An attempt may have crashed between recording the release and this.
            _publish_signatures(con, run_id, Release(*earlier))
    if earlier is not None:
        _save_html(home, run_id, Release(*earlier), None)
        return Release(*earlier)
    with connect(home.database) as con:
        rows = published_rows(con, run_id)
        # A run whose samples were all written before revisions were kept has none stored.
        models = stored_revisions(run_id, con) or model_revisions(config, home.models, con)
        manifest = _manifest(run_id, config, funnel(con, run_id), models)
        target = {"repo_id": config.publish.repo_id, "on_hub": config.publish.target == "hub"}
        records = con.execute(sql("recorded_versions"), target).fetchall()
    recorded = [RecordedVersion(*row) for row in records]
    try:
        with _publishing_turn(config, home):
            release, lost, html = _push(
                run_id, config, home, rows, manifest, report, recorded, allow_rewrite
            )
    except Timeout as exc:
        raise PublishError(
            f"{config.publish.repo_id}: another build kept publishing to it for "
            f"{lock_timeout():g} s (lock {exc.lock_file}); set ${LOCK_TIMEOUT_ENV} to wait "
            "longer, and resume this run"
        ) from exc
    if lost:
        logger.warning(
            "publish: %s had lost %s, which this factory published; published %s after them "
            "(--allow-rewrite)",
            release.repo_id,
            ", ".join(lost),
            release.version,
        )
    with connect(home.database) as con:
        con.execute(
            sql("insert_release"),
            [
                run_id,
                release.repo_id,
                release.version,
                release.location,
                release.commit_sha,
                release.n_rows,
                datetime.now(),
                lost or None,
            ],
        )
        con.execute(sql("run_set_version"), [release.version, run_id])
        _publish_signatures(con, run_id, release)
    _save_html(home, run_id, release, html)
    logger.info("publish: %d rows as %s at %s", release.n_rows, release.version, release.location)
    return release


def _publish_signatures(con: duckdb.DuckDBPyConnection, run_id: str, release: Release) -> None:
    """Later builds of the dataset are checked for near-duplicates against these rows."""
    kept = published_rows(con, run_id)["id"].tolist()
    publish_signatures(con, release.repo_id, run_id, release.version, kept)


def _publishing_turn(config: BuildConfig, home: FactoryHome) -> AbstractContextManager:
    """Builds on one home run side by side: one at a time picks the next version of a local
    repository and commits it, or both would take the same version."""
    if config.publish.target != "local":
        return nullcontext()
    repo = local_hub.repo_path(home.hub, config.publish.repo_id)
    repo.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(f"{repo}.lock", timeout=lock_timeout())


def _push(
    run_id: str,
    config: BuildConfig,
    home: FactoryHome,
    rows: pd.DataFrame,
    manifest: dict,
    report: str,
    recorded: list[RecordedVersion],
    allow_rewrite: bool,
) -> tuple[Release, list[str], str | None]:
    """The release, the versions the target had lost (empty unless `allow_rewrite`), and the
    HTML report published with it (None: an earlier attempt pushed it)."""
    target = config.publish
    # The token is read here and handed to huggingface_hub only; it is never logged or stored.
    token = os.environ.get(target.token_env) if target.target == "hub" else None
    if target.target == "local":
        pushed = local_hub.version_of_run(home.hub, target.repo_id, run_id)
        if pushed is not None:
            # An earlier attempt pushed this run, then crashed before recording it.
            return _recorded(home, target.repo_id, pushed, len(rows)), [], None
        tags = local_hub.tag_commits(home.hub, target.repo_id)
    else:
        pushed_to_hub = hub.version_of_run(target.repo_id, run_id, token)
        if pushed_to_hub is not None:
            version, commit = pushed_to_hub
            location = hub.dataset_url(target.repo_id)
            return Release(target.repo_id, version, location, commit, len(rows)), [], None
        tags = hub.tag_commits(target.repo_id, token)
    version, lost = version_after(
        target.repo_id, recorded, tags, date.today(), allow_rewrite=allow_rewrite
    )
    card = render_card(target.repo_id, version, _license(rows), manifest, report)
    # Rendered now that the version is known, so the published copy names it.
    html = _html(home, run_id, Publication(version, _location(config, home)))
    if target.target == "local":
        release = local_hub.publish_local(
            home.hub, target.repo_id, rows, card, report, version, run_id, html_report=html
        )
    else:
        release = hub.publish_hub(
            target.repo_id,
            rows,
            card,
            report,
            version,
            token,
            target.private,
            run_id,
            html_report=html,
        )
    return release, lost, html


def _location(config: BuildConfig, home: FactoryHome) -> str:
    """Where a version of the configured dataset is published, as its Release names it."""
    if config.publish.target == "local":
        return str(local_hub.repo_path(home.hub, config.publish.repo_id))
    return hub.dataset_url(config.publish.repo_id)


def _html(home: FactoryHome, run_id: str, publication: Publication) -> str:
    with connect(home.database) as con:
        data = gather(con, run_id, publication, releasing=True)
    return render(data)


def _save_html(home: FactoryHome, run_id: str, release: Release, html: str | None) -> None:
    """The HTML report in the home names the release; a resume renders it again, as the
    attempt that pushed may have stopped before saving it."""
    page = html or _html(home, run_id, Publication(release.version, release.location))
    html_path(home, run_id).write_text(page, encoding="utf-8")


def _recorded(home: FactoryHome, repo_id: str, version: str, n_rows: int) -> Release:
    location = local_hub.repo_path(home.hub, repo_id)
    sha = local_hub.commit_of(home.hub, repo_id, version)
    return Release(repo_id, version, str(location), sha, n_rows)


def _license(rows: pd.DataFrame) -> str:
    licenses = sorted(set(rows["license"])) if len(rows) else []
    return licenses[0] if len(licenses) == 1 else "other"


def _manifest(run_id: str, config: BuildConfig, counts: dict[str, int], models: dict) -> dict:
    return {
        "run_id": run_id,
        "config_hash": config.fingerprint(),
        "code_version": f"tessy-factory {__version__}",
        "config": config.model_dump(mode="json", exclude=set(LOCAL_KEYS)),
        "models": models,
        "funnel": counts,
    }
