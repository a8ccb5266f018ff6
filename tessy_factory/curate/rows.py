"""The published rows of a run (`sql/published_rows.sql`) as a pandas DataFrame."""

from __future__ import annotations

import duckdb
import pandas as pd

from tessy_factory.db import sql

# The published row's columns, in order; the quality gate requires each of them.
COLUMNS = (
    "id",
    "messages",
    "prompt_id",
    "source",
    "license",
    "mode",
    "teacher_model",
    "student_model",
    "teacher_token_share",
    "n_switches",
    "n_tokens",
    "verdict",
    "tests_passed",
    "tests_total",
    "run_id",
)


def published_rows(con: duckdb.DuckDBPyConnection, run_id: str) -> pd.DataFrame:
    """The kept samples of `run_id`, one row each, ordered by id."""
    rows = con.execute(sql("published_rows"), {"run_id": run_id}).df()
    # DuckDB hands lists back as numpy arrays; chat data is plain lists of role/content dicts.
    rows["messages"] = rows["messages"].map(list)
    return rows
