"""Tasks that open, resume and close a build's row in the `runs` table."""

from __future__ import annotations

import json
import os
import re
import secrets
from datetime import UTC, datetime

import duckdb
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tessy_factory.config import BuildConfig
from tessy_factory.db import DatabaseBusy, connect, sql
from tessy_factory.fingerprint import config_changes, source_changes
from tessy_factory.home import FactoryHome
from tessy_factory.owner import Owner, recorded_owner
from tessy_factory.predictors.config import PredictorTrainingConfig


class RunConflict(ValueError):
    """A run id is reused with a different configuration."""


RUN_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,127}$")


# Builds and predictor training runs alike have a row in `runs`.
RunConfig = BuildConfig | PredictorTrainingConfig


def new_run_id(config: RunConfig) -> str:
    """A readable, sortable, unique run id: `<name>-<UTC timestamp>-<random>`."""
    return f"{config.name}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def check_run_id(run_id: str) -> str:
    """The run id, if it is safe as a file name; ValueError naming it otherwise."""
    if not RUN_ID.match(run_id):
        raise ValueError(
            f"run id {run_id!r}: use letters, digits, '.', '_' and '-' (at most 128), "
            "starting with a letter or digit"
        )
    return run_id


@task(name="open-run", cache_policy=NO_CACHE)
def open_run(run_id: str, config: RunConfig, home: FactoryHome, sources: dict[str, str]) -> bool:
    """Record the run with its sources' content hashes, owned by this process; True when it
    resumes an earlier attempt. A resume whose data config or sources changed is refused,
    naming each change, and so is a run that another live process is building."""
    me = Owner.this_process()
    with connect(home.database) as con:
        # One transaction: a run is never left without its owner.
        con.begin()
        row = con.execute(sql("run_get"), [run_id]).fetchone()
        resumed = row is not None
        if not resumed:
            con.execute(
                sql("run_insert"),
                [
                    run_id,
                    config.name,
                    config.model_dump_json(),
                    config.fingerprint(),
                    datetime.now(),
                    json.dumps(sources),
                ],
            )
        else:
            _refuse_changes(run_id, row[:4], config, sources)
            _refuse_live_owner(run_id, row[1], row[4:])
            con.execute(
                sql("run_resume"),
                [run_id, config.model_dump_json(), config.fingerprint(), json.dumps(sources)],
            )
        con.execute(sql("run_set_owner"), [run_id, me.pid, me.host, me.started])
        con.commit()
    return resumed


def _refuse_changes(run_id: str, row: tuple, config: RunConfig, sources: dict[str, str]) -> None:
    stored_hash, _, stored_config, stored_sources = row
    changes = [] if stored_hash == config.fingerprint() else config_changes(stored_config, config)
    # A run from before sources were hashed has none stored; they are recorded now.
    if stored_sources is not None:
        changes += source_changes(json.loads(stored_sources), sources)
    if changes:
        raise RunConflict(
            f"run {run_id!r} was started with other data: {'; '.join(changes)}. Resume it "
            "with its own config and sources, or start a new run (no --run-id)"
        )


def _refuse_live_owner(run_id: str, status: str, owner: tuple) -> None:
    builder = recorded_owner(*owner)
    # A live owner on this host with this pid is this process, which may open its run again.
    if status == "running" and builder and builder.pid != os.getpid() and builder.alive():
        raise RunConflict(
            f"run {run_id!r} is being built by {builder}: wait for it to finish, or stop it "
            "and run this again to resume"
        )


@task(name="close-run", cache_policy=NO_CACHE)
def close_run(run_id: str, home: FactoryHome, error: str | None = None) -> None:
    """Mark the run completed, or failed with the error."""
    status = "failed" if error else "completed"
    with connect(home.database) as con:
        con.execute(sql("run_set_status"), [run_id, status, error, datetime.now()])


@task(name="close-dry-run", cache_policy=NO_CACHE)
def close_dry_run(run_id: str, home: FactoryHome) -> None:
    """Mark a build that ran everything but publishing as `dry-run`."""
    with connect(home.database) as con:
        con.execute(sql("run_set_dry_run"), [run_id, datetime.now()])


def announce_run(run_id: str, command: str) -> None:
    """Log how to resume the run, for those who follow the flow in Prefect's UI."""
    get_run_logger().info(
        "run %s: if it stops, resume it with run_id=%r (tessy %s CONFIG --run-id %s)",
        run_id,
        run_id,
        command,
        run_id,
    )


def fail_run(run_id: str, home: FactoryHome, exc: Exception) -> None:
    """Mark the run failed with `exc`. When the database cannot be written (another process
    holds it, the disk is full or read-only), say so and leave the run as it is: it shows
    as interrupted once this process has ended."""
    logger = get_run_logger()
    logger.error("run %s failed: %s; resume it with run_id=%r", run_id, exc, run_id)
    try:
        close_run(run_id, home, error=f"{type(exc).__name__}: {exc}")
    except (DatabaseBusy, duckdb.Error, OSError) as unrecorded:
        logger.warning("run %s: not marked failed, as %s", run_id, unrecorded)


def run_config(home: FactoryHome, run_id: str) -> dict:
    """The stored config of a run, as JSON data."""
    with connect(home.database) as con:
        row = con.execute(sql("run_config"), [run_id]).fetchone()
    if row is None:
        raise KeyError(f"no run with id {run_id!r} in {home.database}")
    return json.loads(row[0])
