"""DuckDB access: the factory's system of record, with every statement kept under `sql/`.

DuckDB lets one process at a time open a database file to write, and readers only while no
process writes. Builds therefore open the database for short spells, and every open waits
its turn, up to `$TESSY_DB_LOCK_TIMEOUT_S` seconds, while another process holds the file.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import duckdb
import psutil
import pyarrow as pa

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

LOCK_TIMEOUT_ENV = "TESSY_DB_LOCK_TIMEOUT_S"
# Far longer than a build's spells on the database (1.3 s at most in a demo build, see the
# README), but a second build's open, or a read, still ends when a process keeps it.
DEFAULT_LOCK_TIMEOUT_S = 60.0
# How often a waiting open tries again.
LOCK_POLL_S = 0.1
# How a tessy command shows in a process's arguments: the script, or `python -m`.
TESSY_PROGRAMS = ("tessy", "tessy_factory.cli")


class DatabaseBusy(RuntimeError):
    """Another process held the factory database for longer than this one would wait."""


@cache
def sql(name: str) -> str:
    """The text of `sql/<name>.sql`; statements bind parameters, never format user data."""
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file named {name!r} in {SQL_DIR}")
    return path.read_text(encoding="utf-8")


@contextmanager
def connect(
    database: Path | str, *, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the factory database, waiting while another process holds it; closes on exit.

    Read-write, it puts the schema in place first. Read-only, it changes nothing, so it
    works on a read-only home (whose schema a build put there).
    """
    con = _open(Path(database), read_only)
    try:
        if not read_only:
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


def store(database: Path | str, statement: str, rows: list[list]) -> None:
    """Run `sql/<statement>.sql` for each row, in a short spell of its own on the database,
    so that work between writes (generating, judging) leaves it to other processes."""
    if not rows:
        return
    with connect(database) as con:
        con.executemany(sql(statement), rows)


def lock_timeout() -> float:
    """Seconds an open waits for another process to let go of the database."""
    value = os.environ.get(LOCK_TIMEOUT_ENV, str(DEFAULT_LOCK_TIMEOUT_S))
    try:
        seconds = float(value)
        if seconds >= 0:
            return seconds
    except ValueError:
        pass
    raise ValueError(f"${LOCK_TIMEOUT_ENV}={value!r}: expected a number of seconds >= 0")


def _open(database: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    # A plain polling loop: DuckDB has no wait-for-lock option, and the lock is a file lock
    # that only DuckDB's own open can take.
    deadline = time.monotonic() + lock_timeout()
    while True:
        try:
            return duckdb.connect(str(database), read_only=read_only)
        except duckdb.IOException as exc:
            if "Could not set lock" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise _busy(database, str(exc)) from exc
        time.sleep(LOCK_POLL_S)


def _busy(database: Path, message: str) -> DatabaseBusy:
    """The error for a database another process kept: which process, and what to do."""
    waited = f"waited {lock_timeout():g} s"
    return DatabaseBusy(
        f"database {database} is in use by {_holder(message)} ({waited}): wait for it to "
        f"finish, use another home (--home or $TESSY_HOME), or set ${LOCK_TIMEOUT_ENV} "
        "to wait longer"
    )


def _holder(message: str) -> str:
    """The process DuckDB's lock error names, with its tessy command when it is one."""
    found = re.search(r"\(PID (\d+)\)", message)
    if found is None:
        return "another process"
    pid = int(found.group(1))
    try:
        process = psutil.Process(pid)
        name, args = process.name(), process.cmdline()
    except psutil.Error:
        return f"process {pid}"
    # A tessy command is shown whole, as it takes no secret on its command line; any other
    # program by its name only, as its arguments might hold one.
    for index, arg in enumerate(args):
        if Path(arg).name in TESSY_PROGRAMS:
            return f"process {pid} (tessy {' '.join(args[index + 1 :])})"
    return f"process {pid} ({name})"
