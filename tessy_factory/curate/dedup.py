"""Exact dedup and the keep/drop decision for every generation of a run (`sql/curate.sql`).

Each generation gets exactly one `curation` row whose reason says why it was dropped, or
`kept`; `ledger` then drops contaminated rows and near-duplicates among the kept ones.
Curating again replaces the run's rows, so a re-run build redoes curation cleanly.
"""

from __future__ import annotations

import duckdb

from tessy_factory.db import sql

# Every reason a curation row can hold, in the order they are checked: `sql/curate.sql`
# writes all but contaminated and near-duplicate, which `ledger` writes after it.
REASONS = (
    "prompt-excluded",
    "prompt-unchecked",
    "generation-failed",
    "not-verified",
    "not-accepted",
    "exact-duplicate",
    "contaminated",
    "near-duplicate",
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
    return reason_counts(con, run_id)


def reason_counts(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    """How many of the run's generations each reason covers, every reason named."""
    counts = dict(con.execute(sql("curate_counts"), {"run_id": run_id}).fetchall())
    return {reason: counts.get(reason, 0) for reason in REASONS}
