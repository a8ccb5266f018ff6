"""The near-duplicate index in DuckDB (`sql/schema_near_dup.sql`): signatures and band keys
of rows in, near-duplicate pairs out (`sql/near_dup_pairs.sql`), published rows marked.

Batches travel as registered Arrow tables, as in `sources/load.py`: DuckDB's executemany
costs milliseconds per row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from tessy_factory.curate.near_dup.sketch import Corpus, band_keys
from tessy_factory.db import registered, sql


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the index's tables if this database lacks them."""
    con.execute(sql("schema_near_dup"))


def unhashed(
    con: duckdb.DuckDBPyConnection, corpus: Corpus, run_id: str, ids: Sequence[str]
) -> list[int]:
    """The positions in `ids` of those the index holds no signature for, under this corpus
    and run, in order."""
    batch = pa.table({"id": pa.array(ids, pa.string()), "position": np.arange(len(ids))})
    with registered(con, near_dup_batch=batch):
        found = con.execute(sql("near_dup_unhashed"), _keys(corpus, run_id)).fetchall()
    return [position for (position,) in found]


def insert(
    con: duckdb.DuckDBPyConnection,
    corpus: Corpus,
    run_id: str,
    version: str | None,
    ids: Sequence[str],
    signatures: np.ndarray,
    hashable: np.ndarray,
) -> None:
    """Index the rows `ids` with their `signatures` and band keys, inside the caller's
    `transaction`; a row not `hashable` (no shingle) is stored without either, so it is
    never hashed again."""
    [(first,)] = con.execute(sql("near_dup_next_key")).fetchall()
    row_keys = np.arange(first, first + len(ids), dtype=np.int64)
    num_perm = corpus.settings.num_perm
    flat = pa.array(signatures.ravel(), pa.uint32())
    rows = pa.table(
        {
            "row_key": row_keys,
            "id": pa.array(ids, pa.string()),
            "signature": pa.ListArray.from_arrays(
                pa.array(np.arange(len(ids) + 1, dtype=np.int32) * num_perm),
                flat,
                mask=pa.array(~hashable),
            ),
        }
    )
    keys = band_keys(signatures[hashable], corpus.settings.bands, corpus.settings.rows)
    bands = pa.table(
        {
            "row_key": np.repeat(row_keys[hashable], corpus.settings.bands),
            "band": np.tile(np.arange(corpus.settings.bands, dtype=np.uint16), len(keys)),
            "key": keys.ravel(),
        }
    )
    params = {**_keys(corpus, run_id), "version": version}
    with registered(con, near_dup_hashed=rows, near_dup_band_keys=bands):
        con.execute(sql("near_dup_insert_rows"), params)
        con.execute(sql("near_dup_insert_bands"))


def pairs(
    con: duckdb.DuckDBPyConnection, corpus: Corpus, run_id: str, ids: Sequence[str]
) -> pd.DataFrame:
    """Near-duplicate pairs of the run's rows `ids`, each once: columns a, b (row keys; a is
    one of `ids`), similarity, a_row_id, and b's row_id, run_id, version and whether it is
    one of `ids` (b_candidate)."""
    batch = pa.table({"id": pa.array(ids, pa.string())})
    params = {**_keys(corpus, run_id), "threshold": corpus.settings.threshold}
    with registered(con, near_dup_batch=batch):
        return con.execute(sql("near_dup_pairs"), params).df()


def versions(con: duckdb.DuckDBPyConnection, corpus: Corpus) -> list[str]:
    """The dataset versions whose rows the corpus holds."""
    params = {"repo_id": corpus.repo_id, "field": corpus.field, "sketch": corpus.sketch}
    return [version for (version,) in con.execute(sql("near_dup_versions"), params).fetchall()]


def publish(
    con: duckdb.DuckDBPyConnection,
    repo_id: str,
    run_id: str,
    version: str,
    kept_ids: Sequence[str],
) -> None:
    """Mark the run's rows `kept_ids` as published in `version`, in every text and sketch;
    forget its other rows."""
    ensure_schema(con)
    params = {"repo_id": repo_id, "run_id": run_id}
    kept = pa.table({"id": pa.array(kept_ids, pa.string())})
    with registered(con, near_dup_kept=kept), transaction(con):
        con.execute(sql("near_dup_publish"), {**params, "version": version})
        con.execute(sql("near_dup_forget_bands"), params)
        con.execute(sql("near_dup_forget_rows"), params)


def _keys(corpus: Corpus, run_id: str) -> dict[str, str]:
    return {
        "repo_id": corpus.repo_id,
        "field": corpus.field,
        "sketch": corpus.sketch,
        "run_id": run_id,
    }


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """The block's statements commit together, or roll back together on an error."""
    con.begin()
    try:
        yield
    except BaseException:
        con.rollback()
        raise
    con.commit()
