"""The drop ledger past the exact pass: contaminated rows, then near-duplicates, dropped
among the rows `dedup.curate` kept and written into their `curation` rows with what each
matched (`sql/ledger_record.sql`); `sql/drop_ledger.sql` lists a run's ledger.

Near-duplicates keep, per cluster, any row already published (the earliest version first),
else the accepted rows before the others, then the row of the mode listed first in
`generation.modes`, then the smallest sample id. `gate_counts` reads the ledger's counts
that the run-level gates of `curation.gates` check.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pandas as pd
import pyarrow as pa

from tessy_factory.curate.decontam import REASON as CONTAMINATED
from tessy_factory.curate.decontam import EvalItem, find_contamination
from tessy_factory.curate.decontam_config import DecontaminationConfig
from tessy_factory.curate.near_dup import Corpus, NearDupDrop, Tokenizer, find_near_duplicates
from tessy_factory.curate.near_dup_config import NearDupConfig
from tessy_factory.db import registered, sql

LEDGER_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("kept", pa.bool_()),
        ("reason", pa.string()),
        ("matched_id", pa.string()),
        ("matched_run", pa.string()),
        ("matched_version", pa.string()),
        ("similarity", pa.float64()),
        ("overlap", pa.int32()),
        ("field", pa.string()),
        ("detail", pa.string()),
        ("flag", pa.string()),
    ]
)


def kept_rows(con: duckdb.DuckDBPyConnection, run_id: str) -> pd.DataFrame:
    """The rows still kept: sample_id, prompt_id, mode, verdict, prompt and (generated) text."""
    return con.execute(sql("ledger_kept_rows"), {"run_id": run_id}).df()


def drop_contaminated(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    items: Sequence[EvalItem],
    config: DecontaminationConfig,
    language: str,
) -> int:
    """Drop (or flag, by `config.action`) the kept rows that overlap an evaluation item;
    returns how many did."""
    if not config.enabled:
        return 0
    found = find_contamination(con, kept_rows(con, run_id), items, config.n, language)
    drop = config.action == "drop"
    entries = [
        {
            "sample_id": c.sample_id,
            "kept": not drop,
            "reason": CONTAMINATED if drop else "kept",
            "matched_id": c.item_id,
            "overlap": c.overlap,
            "field": c.field,
            "detail": c.detail,
            "flag": None if drop else CONTAMINATED,
        }
        # One entry per row: its prompt's match before its solution's.
        for c in {c.sample_id: c for c in reversed(found)}.values()
    ]
    record(con, run_id, entries)
    return len(entries)


def drop_near_duplicates(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    config: NearDupConfig,
    repo_id: str,
    modes: Sequence[str],
    tokenizer: Tokenizer | None = None,
) -> dict[str, int]:
    """Drop the kept rows that near-duplicate another kept row or a row published to
    `repo_id`, each enabled text in turn (`tokenizer` gives the units of a text shingled by
    tokens); returns, per text, the rows hashed (none again on a re-run) and dropped."""
    counts: dict[str, int] = {}
    for field, settings in config.enabled().items():
        rows = kept_rows(con, run_id)
        candidates = pd.DataFrame(
            {
                "id": rows["sample_id"],
                "text": rows["prompt" if field == "prompt" else "text"],
                "rejected": rows["verdict"] != "accepted",
                "mode_rank": [_rank(modes, mode) for mode in rows["mode"]],
            }
        )
        corpus = Corpus(repo_id, field, settings, tokenizer)
        result = find_near_duplicates(con, corpus, run_id, candidates, ["rejected", "mode_rank"])
        record(con, run_id, [_near_dup_entry(drop) for drop in result.drops])
        counts[f"{field}_hashed"] = result.hashed
        counts[f"{field}_dropped"] = len(result.drops)
    return counts


def gate_counts(con: duckdb.DuckDBPyConnection, run_id: str) -> pd.DataFrame:
    """One row of the run's ledger counts: near-duplicates, rows the near-duplicate pass
    checked, their rate, and contaminated rows (`sql/ledger_gate_counts.sql` defines each)."""
    return con.execute(sql("ledger_gate_counts"), {"run_id": run_id}).df()


def record(con: duckdb.DuckDBPyConnection, run_id: str, entries: list[dict]) -> None:
    """Write ledger entries (LEDGER_SCHEMA's keys; those left out are NULL) into the run's
    curation rows; a flag a row already carries stays."""
    if not entries:
        return
    table = pa.Table.from_pylist(entries, schema=LEDGER_SCHEMA)
    with registered(con, ledger_entries=table):
        con.execute(sql("ledger_record"), {"run_id": run_id})


def _rank(modes: Sequence[str], mode: str) -> int:
    # A mode no longer configured (a resumed run's) comes after those that are.
    return modes.index(mode) if mode in modes else len(modes)


def _near_dup_entry(drop: NearDupDrop) -> dict:
    return {
        "sample_id": drop.row_id,
        "kept": False,
        "reason": drop.reason,
        "matched_id": drop.matched_id,
        "matched_run": drop.matched_run,
        "matched_version": drop.matched_version,
        "similarity": drop.similarity,
        "field": drop.field,
    }
