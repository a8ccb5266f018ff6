"""The drop funnel of a run (`sql/funnel.sql`): how many rows each stage let through."""

from __future__ import annotations

import duckdb

from tessy_factory.db import sql


def funnel(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    """Counts per stage, in pipeline order: prompts_in, quarantined, tests_excluded (prompts
    whose own tests failed their check), tests_unchecked (prompts the judge failed to check:
    not generated for unless `curation.include_unchecked_prompts`), generated, failed,
    verified, exact_duplicates, contaminated, near_duplicates (dropped among the verified
    rows, in that order), kept, published (the rows of the run's release, 0 before it)."""
    cursor = con.execute(sql("funnel"), {"run_id": run_id})
    names = [column[0] for column in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))


def funnel_markdown(counts: dict[str, int]) -> str:
    """The funnel as a two-column markdown table, stages in the given order."""
    lines = ["| Stage | Rows |", "| --- | ---: |"]
    lines += [f"| {stage.replace('_', ' ')} | {n} |" for stage, n in counts.items()]
    return "\n".join(lines) + "\n"
