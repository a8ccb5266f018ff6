"""Tasks that open, resume and close a build's row in the `runs` table."""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from tessy_factory.config import BuildConfig
from tessy_factory.db import connect, sql
from tessy_factory.fingerprint import config_changes, source_changes
from tessy_factory.home import FactoryHome
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
    """Record the run with its sources' content hashes; True when it resumes an earlier
    attempt. A resume whose data config or sources changed is refused, naming each change."""
    with connect(home.database) as con:
        row = con.execute(sql("run_get"), [run_id]).fetchone()
        if row is None:
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
            return False
        _refuse_changes(run_id, row, config, sources)
        con.execute(
            sql("run_resume"),
            [run_id, config.model_dump_json(), config.fingerprint(), json.dumps(sources)],
        )
        return True


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


@task(name="close-run", cache_policy=NO_CACHE)
def close_run(run_id: str, home: FactoryHome, error: str | None = None) -> None:
    """Mark the run completed, or failed with the error."""
    status = "failed" if error else "completed"
    with connect(home.database) as con:
        con.execute(sql("run_set_status"), [run_id, status, error, datetime.now()])


def run_config(home: FactoryHome, run_id: str) -> dict:
    """The stored config of a run, as JSON data."""
    with connect(home.database) as con:
        row = con.execute(sql("run_config"), [run_id]).fetchone()
    if row is None:
        raise KeyError(f"no run with id {run_id!r} in {home.database}")
    return json.loads(row[0])
