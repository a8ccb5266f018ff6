"""Task: push the kept rows as one new dataset version, with card and report."""

from __future__ import annotations

import os
from datetime import date, datetime

import pandas as pd
from filelock import FileLock
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tessy_factory import __version__
from tessy_factory.config import BuildConfig
from tessy_factory.curate.funnel import funnel
from tessy_factory.curate.rows import published_rows
from tessy_factory.db import connect, sql
from tessy_factory.home import FactoryHome
from tessy_factory.publish import hub, local_hub
from tessy_factory.publish.card import render_card
from tessy_factory.publish.revisions import model_revisions, stored_revisions
from tessy_factory.publish.version import Release, next_version


@task(name="publish", cache_policy=NO_CACHE)
def publish(run_id: str, config: BuildConfig, home: FactoryHome, report: str) -> Release:
    """Publish the run once: a resumed run returns the release an earlier attempt made."""
    logger = get_run_logger()
    with connect(home.database) as con:
        earlier = con.execute(sql("release_of_run"), [run_id]).fetchone()
        if earlier is not None:
            logger.info("publish: run already released as %s", earlier[1])
            return Release(*earlier)
        rows = published_rows(con, run_id)
        # A run whose samples were all written before revisions were kept has none stored.
        models = stored_revisions(run_id, con) or model_revisions(config, home.models, con)
        manifest = _manifest(run_id, config, funnel(con, run_id), models)
    release = _push(run_id, config, home, rows, manifest, report)
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
            ],
        )
        con.execute(sql("run_set_version"), [release.version, run_id])
    logger.info("publish: %d rows as %s at %s", release.n_rows, release.version, release.location)
    return release


def _push(
    run_id: str,
    config: BuildConfig,
    home: FactoryHome,
    rows: pd.DataFrame,
    manifest: dict,
    report: str,
) -> Release:
    target = config.publish
    license = _license(rows)
    if target.target == "local":
        # Builds on one home run side by side: one at a time picks the next version and
        # commits it, or both would take the same version in the same repository.
        repo = local_hub.repo_path(home.hub, target.repo_id)
        repo.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{repo}.lock"):
            pushed = local_hub.version_of_run(home.hub, target.repo_id, run_id)
            if pushed is not None:
                # An earlier attempt pushed this run, then crashed before recording it.
                return _recorded(home, target.repo_id, pushed, len(rows))
            versions = local_hub.existing_versions(home.hub, target.repo_id)
            version = next_version(versions, date.today())
            card = render_card(target.repo_id, version, license, manifest, report)
            return local_hub.publish_local(
                home.hub, target.repo_id, rows, card, report, version, run_id
            )
    # The token is read here and handed to huggingface_hub only; it is never logged or stored.
    token = os.environ.get(target.token_env)
    pushed = hub.version_of_run(target.repo_id, run_id, token)
    if pushed is not None:
        version, commit = pushed
        location = f"https://huggingface.co/datasets/{target.repo_id}"
        return Release(target.repo_id, version, location, commit, len(rows))
    version = next_version(hub.existing_versions(target.repo_id, token), date.today())
    card = render_card(target.repo_id, version, license, manifest, report)
    return hub.publish_hub(
        target.repo_id, rows, card, report, version, token, target.private, run_id
    )


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
        "config": config.model_dump(mode="json", exclude={"home"}),
        "models": models,
        "funnel": counts,
    }
