"""DuckDB access: the factory's system of record, with every statement kept under `sql/`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


@cache
def sql(name: str) -> str:
    """The text of `sql/<name>.sql`; statements bind parameters, never format user data."""
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file named {name!r} in {SQL_DIR}")
    return path.read_text(encoding="utf-8")


@contextmanager
def connect(database: Path | str) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the factory database with its schema in place; closes on exit."""
    con = duckdb.connect(str(database))
    try:
        con.execute(sql("schema"))
        yield con
    finally:
        con.close()


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, **tables: pa.Table) -> Iterator[None]:
    """Make each Arrow table queryable by its name for the block (how batches reach SQL:
    DuckDB's executemany costs milliseconds per row)."""
    for name, table in tables.items():
        con.register(name, table)
    try:
        yield
    finally:
        for name in tables:
            con.unregister(name)
