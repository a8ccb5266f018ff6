"""Settle duplicate prompts: keep one source row per prompt_id, quarantine the others.

Rows with the same text share a `prompt_id`, but not always their tests: one copy's tests may
fail the test check where another's pass. So loading keeps every normalised row as a
candidate (`prompt_candidates`), the test check (`tasks.verification.check_tests`) judges
candidates in load order, and settling then picks each prompt_id's row by one rule: the
first, in load order (sources as configured, then rows), among the rows whose tests passed;
with none passed, the first not checked (the check is off: the first row wins), then the
first the judge failed to check, then the first excluded. That row is copied to `prompts`,
with its check to `prompt_checks`; the others go to `quarantine` as its duplicates.

A prompt_id keeps the row it was first settled on, and every statement adds only what is
missing, so settling again (a resumed run) adds nothing and gives the same counts; a settle
cut short is finished by the next. A duplicate is never checked again once settled, even when
its prompt's row was unchecked and a re-run finds that row's tests fail.
"""

from __future__ import annotations

import duckdb

from tessy_factory.db import sql

# In this order: the prompts first, as the other two read them.
STATEMENTS = ("settle_prompts", "settle_prompt_checks", "settle_duplicates")


def settle_candidates(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    """Settle every prompt_id of `run_id` on one of its rows; returns {"prompts": prompts of
    the run, "duplicates": rows quarantined as their duplicates}."""
    for statement in STATEMENTS:
        con.execute(sql(statement), {"run_id": run_id})
    cursor = con.execute(sql("settle_counts"), {"run_id": run_id})
    (counts,) = cursor.fetchall()  # all: an unfinished result would block the connection
    names = [column[0] for column in cursor.description]
    return dict(zip(names, counts, strict=True))
