"""The registry of trained boundary predictors: names a build config can use.

A predictor registered as `demo-teacher` is used with `teacher_predictor.model:
registered:demo-teacher`; the name resolves to the directory the training flow saved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from tessy_factory.db import sql

REGISTERED = "registered:"


class UnknownPredictor(ValueError):
    """A `registered:` name that resolves to no predictor; the message says why."""


@dataclass(frozen=True)
class RegisteredPredictor:
    """One registry row."""

    name: str
    role: str
    path: str
    base_model: str
    annotator: str
    metrics: dict
    run_id: str
    created_at: datetime


def register(con: duckdb.DuckDBPyConnection, predictor: RegisteredPredictor) -> None:
    """Record `predictor` under its name, replacing an earlier one of that name."""
    con.execute(
        sql("predictor_register"),
        [
            predictor.name,
            predictor.role,
            predictor.path,
            predictor.base_model,
            predictor.annotator,
            json.dumps(predictor.metrics),
            predictor.run_id,
            predictor.created_at,
        ],
    )


def registered_path(con: duckdb.DuckDBPyConnection, reference: str) -> Path:
    """The directory of `registered:<name>`; UnknownPredictor naming the known names."""
    name = reference.removeprefix(REGISTERED)
    row = con.execute(sql("predictor_lookup"), [name]).fetchone()
    if row is None:
        known = ", ".join(p.name for p in registered(con)) or "none yet"
        raise UnknownPredictor(f"no registered predictor named {name!r} (registered: {known})")
    path = Path(row[0])
    if not path.is_dir():
        raise UnknownPredictor(f"registered predictor {name!r}: its directory {path} is gone")
    return path


def registered(con: duckdb.DuckDBPyConnection) -> list[RegisteredPredictor]:
    """Every registered predictor, by name."""
    rows = con.execute(sql("predictors_list")).fetchall()
    return [
        RegisteredPredictor(name, role, path, base, annotator, json.loads(metrics), run_id, at)
        for name, role, path, base, annotator, metrics, run_id, at in rows
    ]
