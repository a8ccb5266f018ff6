"""Load a build's prompt sources into DuckDB: normalised rows to `prompt_candidates`, bad ones
to `quarantine`.

Rows with the same text (hence `prompt_id`) all load as candidates: which one becomes the
prompt is settled after the test check (see `settle`). Loading is resumable: rows are keyed
by the run and inserted with INSERT OR IGNORE, and the same sources always give the same
rows, so a retried load adds nothing twice and reports the same counts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import duckdb
import pyarrow as pa

from tessy_factory.db import sql
from tessy_factory.sources.normalise import Prompt, Rejected, normalise
from tessy_factory.sources.readers import (
    Source,
    read_rows,
    refuse_repeated_labels,
    source_license,
)

# Rows per insert: large enough that DuckDB's per-statement cost vanishes, small enough
# that a big source never sits in memory whole.
BATCH_ROWS = 5000

CANDIDATE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("source_row", pa.int64()),
        ("position", pa.int64()),
        ("location", pa.string()),
        ("prompt_id", pa.string()),
        ("text", pa.string()),
        ("tests", pa.string()),
        ("reference", pa.string()),
        ("license", pa.string()),
        ("raw", pa.string()),
    ]
)
QUARANTINE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("source_row", pa.int64()),
        ("location", pa.string()),
        ("kind", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),
    ]
)


def load_sources(
    con: duckdb.DuckDBPyConnection, run_id: str, sources: list[Source], base_dir: Path
) -> dict[str, int]:
    """Read, normalise and store every row of `sources` for `run_id`.

    Returns {"loaded": rows stored as prompt candidates, "quarantined": rows rejected}; rows
    already stored by an earlier attempt of the same run count too. Raises `SourceError` when
    a source cannot be read at all.
    """
    refuse_repeated_labels(sources)
    counts = {"loaded": 0, "quarantined": 0}
    candidates: list[dict] = []
    rejected: list[Rejected] = []
    for position, outcome in enumerate(_outcomes(sources, base_dir)):
        if isinstance(outcome, Prompt):
            tests = json.dumps(outcome.tests, ensure_ascii=False)
            candidates.append({**asdict(outcome), "tests": tests, "position": position})
        else:
            rejected.append(outcome)
        if len(candidates) + len(rejected) >= BATCH_ROWS:
            _store(con, run_id, candidates, rejected, counts)
    _store(con, run_id, candidates, rejected, counts)
    return counts


def _outcomes(sources: list[Source], base_dir: Path) -> Iterator[Prompt | Rejected]:
    for source in sources:
        license = source_license(source)
        for raw in read_rows(source, base_dir):
            yield normalise(raw, license, source.comparison)


def _store(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    candidates: list[dict],
    rejected: list[Rejected],
    counts: dict[str, int],
) -> None:
    """Insert and count the pending rows, then empty the lists for the next batch."""
    if candidates:
        _insert(con, run_id, "insert_candidate", "candidate_batch", candidates, CANDIDATE_SCHEMA)
    if rejected:
        rows = [asdict(row) for row in rejected]
        _insert(con, run_id, "insert_quarantine", "quarantine_batch", rows, QUARANTINE_SCHEMA)
    counts["loaded"] += len(candidates)
    counts["quarantined"] += len(rejected)
    candidates.clear()
    rejected.clear()


def _insert(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    statement: str,
    view: str,
    rows: list[dict],
    schema: pa.Schema,
) -> None:
    # One Arrow table per batch: DuckDB's executemany costs milliseconds per row.
    con.register(view, pa.Table.from_pylist(rows, schema=schema))
    try:
        con.execute(sql(statement), [run_id])
    finally:
        con.unregister(view)
