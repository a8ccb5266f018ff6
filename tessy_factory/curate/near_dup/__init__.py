"""Near-duplicate dedup with MinHash LSH, incremental across the builds of a dataset.

A `Corpus` is one text (prompt or response) of one dataset's rows under one set of settings
(`near_dup_config.NearDupText`). `find_near_duplicates` hashes a run's candidate rows that
the index does not hold yet (a resumed run hashes nothing again), finds their near-duplicates
among each other and among every row already published to the dataset, keeps one row per
cluster by the caller's order, and names for every dropped row the row it matched. When the
run publishes, `publish_signatures` makes its kept rows part of the corpus later builds are
checked against.

    corpus = Corpus("org/data", "response", config.response)
    result = find_near_duplicates(con, corpus, run_id, rows, keep_by=["rejected", "mode_rank"])
    ...
    publish_signatures(con, "org/data", run_id, version, kept_ids)

Modules: `shingles` (texts to shingle hashes), `sketch` (signatures, band keys, the
settings' id), `store` (the DuckDB index and the band join), `clusters` (what to keep).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pandas as pd

from tessy_factory.curate.near_dup import store
from tessy_factory.curate.near_dup.clusters import drop_for
from tessy_factory.curate.near_dup.sketch import Corpus, Tokenizer
from tessy_factory.curate.near_dup.store import publish as publish_signatures
from tessy_factory.curate.near_dup_config import TextField

__all__ = [
    "Corpus",
    "NearDupDrop",
    "NearDupResult",
    "Tokenizer",
    "find_near_duplicates",
    "index_rows",
    "indexed_versions",
    "publish_signatures",
]

REASON = "near-duplicate"
# Texts hashed per batch: bounds memory (about 40 MB per 10k texts of 300 words).
BATCH_ROWS = 10_000


@dataclass(frozen=True)
class NearDupDrop:
    """A row dropped as a near-duplicate, for the drop ledger: the row it matched (of this
    run when `matched_version` is None) and their estimated Jaccard similarity."""

    row_id: str
    field: TextField
    matched_id: str
    matched_run: str
    matched_version: str | None
    similarity: float
    reason: str = REASON


@dataclass(frozen=True)
class NearDupResult:
    """What one check did: rows it hashed (0 when all were hashed before), rows dropped."""

    hashed: int
    drops: list[NearDupDrop]


def find_near_duplicates(
    con: duckdb.DuckDBPyConnection,
    corpus: Corpus,
    run_id: str,
    rows: pd.DataFrame,
    keep_by: Sequence[str],
) -> NearDupResult:
    """Check the run's candidate `rows` (columns `id`, `text` and those of `keep_by`)
    against each other and the corpus's published rows; a cluster keeps its published rows
    or, if none, its first row sorted by `keep_by` (ascending, then by id)."""
    _check(rows, keep_by)
    keys = list(dict.fromkeys([*keep_by, "id"]))
    ids = rows[keys].sort_values(keys, kind="stable")["id"].tolist()
    hashed = index_rows(con, corpus, run_id, rows)
    pairs = store.pairs(con, corpus, run_id, ids)
    rank = {row_id: position for position, row_id in enumerate(ids)}
    return NearDupResult(hashed, _drops(corpus, run_id, pairs, rank))


def index_rows(
    con: duckdb.DuckDBPyConnection,
    corpus: Corpus,
    run_id: str,
    rows: pd.DataFrame,
    version: str | None = None,
) -> int:
    """Hash the `rows` (columns `id`, `text`) of `run_id` that the index lacks; returns how
    many it hashed. With `version`, they go in as published rows of that version: the way to
    index the versions published before this corpus's settings (see `indexed_versions`)."""
    _check(rows, ())
    store.ensure_schema(con)
    # Python lists, picked by position: the texts become Python strings to be hashed anyway,
    # and a pandas take of 100k Arrow strings cost a second on the near-dup bench.
    ids, texts = rows["id"].tolist(), rows["text"].tolist()
    todo = store.unhashed(con, corpus, run_id, ids)
    # One commit for all batches: a commit per batch cost a tenth of the 100k bench's wall
    # time in writes; a crash loses at most this call's hashing.
    with store.transaction(con):
        for start in range(0, len(todo), BATCH_ROWS):
            batch = todo[start : start + BATCH_ROWS]
            signatures, hashable = corpus.signatures([texts[p] for p in batch])
            ids_batch = [ids[p] for p in batch]
            store.insert(con, corpus, run_id, version, ids_batch, signatures, hashable)
    return len(todo)


def indexed_versions(con: duckdb.DuckDBPyConnection, corpus: Corpus) -> list[str]:
    """The dataset versions whose rows the corpus holds: a version published before these
    settings is missing, and its rows are not compared until `index_rows` adds them."""
    store.ensure_schema(con)
    return store.versions(con, corpus)


def _check(rows: pd.DataFrame, keep_by: Sequence[str]) -> None:
    """Refuse rows the engine cannot key or hash, naming the column or the row."""
    missing = [column for column in ("id", "text", *keep_by) if column not in rows.columns]
    if missing:
        raise ValueError(f"near-duplicate rows: missing column(s) {', '.join(missing)}")
    repeated = rows["id"][rows["id"].duplicated()]
    if len(repeated):
        raise ValueError(f"near-duplicate rows: id {repeated.iloc[0]!r} appears more than once")
    blank = rows["id"][rows["text"].isna()]
    if len(blank):
        raise ValueError(f"near-duplicate rows: id {blank.iloc[0]!r} has no text")


def _drops(
    corpus: Corpus, run_id: str, pairs: pd.DataFrame, rank: dict[str, int]
) -> list[NearDupDrop]:
    """The ledger rows of the clusters that `pairs` form."""
    who: dict[int, tuple[str, str, str | None]] = {}
    order: dict[int, tuple] = {}
    published: set[int] = set()
    for pair in pairs.itertuples(index=False):
        who[pair.a] = (pair.a_row_id, run_id, None)
        order[pair.a] = (1, rank[pair.a_row_id])
        if pair.b_candidate:
            who[pair.b] = (pair.b_row_id, run_id, None)
            order[pair.b] = (1, rank[pair.b_row_id])
        else:
            who[pair.b] = (pair.b_row_id, pair.b_run_id, pair.b_version)
            # Published rows all stay; as roots, the earliest version comes first.
            order[pair.b] = (0, pair.b_version, pair.b)
            published.add(pair.b)
    edges = zip(pairs["a"], pairs["b"], pairs["similarity"], strict=True)
    dropped = drop_for(edges, order, published)
    return [
        NearDupDrop(who[row][0], corpus.field, *who[match], similarity=round(similarity, 6))
        for row, (match, similarity) in sorted(dropped.items(), key=lambda item: order[item[0]])
    ]
