"""The stored style metrics read back (`sql/sample_metrics_summary.sql`): medians and
percentiles per mode of a run or per version of a dataset, and the rows a gate checks."""

from __future__ import annotations

import duckdb
import pandas as pd

from tessy_factory.db import sql


def metrics_by_mode(con: duckdb.DuckDBPyConnection, run_id: str, *, kept_only: bool) -> list[dict]:
    """Per mode of `run_id`: row count, medians and quantiles of the metrics, of the kept
    rows or of all generated rows."""
    return _summary(con, {"run_id": run_id, "repo_id": None, "kept_only": kept_only})


def metrics_by_version(con: duckdb.DuckDBPyConnection, repo_id: str) -> list[dict]:
    """As `metrics_by_mode`, per version of dataset `repo_id` (oldest first) and mode, of the
    published rows."""
    return _summary(con, {"run_id": None, "repo_id": repo_id, "kept_only": True})


def _summary(con: duckdb.DuckDBPyConnection, params: dict) -> list[dict]:
    cursor = con.execute(sql("sample_metrics_summary"), params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def published_metrics(
    con: duckdb.DuckDBPyConnection, run_id: str, mode: str | None
) -> pd.DataFrame:
    """The metrics of the rows `run_id` publishes, of one mode (None: every mode)."""
    return con.execute(sql("sample_metrics_published"), {"run_id": run_id, "mode": mode}).df()
