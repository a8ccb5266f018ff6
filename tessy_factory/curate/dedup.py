"""Exact dedup and the keep/drop decision for every generation of a run (`sql/curate.sql`).

Each generation gets exactly one `curation` row whose reason says why it was dropped, or
`kept`. Curating again replaces the run's rows, so a re-run build redoes curation cleanly.
"""

from __future__ import annotations

import duckdb

from tessy_factory.db import sql

# Every reason `sql/curate.sql` can write, in the order it checks them.
REASONS = (
    "prompt-excluded",
    "prompt-unchecked",
    "generation-failed",
    "not-verified",
    "not-accepted",
    "duplicate",
    "kept",
)


def curate(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    require_accepted: bool,
    include_unchecked: bool = False,
) -> dict[str, int]:
    """Decide keep/drop for every generation of `run_id`; returns the count of each reason.
    Samples of a prompt the test check excluded are dropped, and so are those of a prompt it
    could not check (`unchecked`) unless `include_unchecked`."""
    params = {"run_id": run_id}
    if not con.execute(sql("curate_run_exists"), params).fetchone()[0]:
        raise ValueError(f"run_id {run_id!r}: no such run in the database")
    con.begin()
    try:
        con.execute(sql("curate_reset"), params)
        flags = {"require_accepted": require_accepted, "include_unchecked": include_unchecked}
        con.execute(sql("curate"), {**params, **flags})
        con.commit()
    except Exception:
        con.rollback()
        raise
    counts = dict(con.execute(sql("curate_counts"), params).fetchall())
    return {reason: counts.get(reason, 0) for reason in REASONS}
