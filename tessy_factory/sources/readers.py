"""Read raw rows from each kind of prompt source, one small reader per kind.

A reader yields every row it finds, good or bad: a row that cannot be decoded carries its
problem instead of fields, so one broken line is quarantined without losing the rest. A
source that cannot be read at all (missing file, unloadable dataset, failing query) raises
`SourceError` naming the source and the cause. Relative paths resolve against `base_dir`,
the directory of the build config.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any

import datasets
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from tessy_factory.config import DemoSource, FileSource, HFSource, HumanEvalSource, SQLSource
from tessy_factory.db import sql
from tessy_factory.demo.problems import build_problems, probe_problems
from tessy_factory.sources.humaneval import HUMANEVAL_LICENSE, humaneval_fields, humaneval_problems

Source = DemoSource | HumanEvalSource | FileSource | HFSource | SQLSource

DEMO_LICENSE = "Apache-2.0"
REQUIRED_COLUMNS = ("text", "tests")
# The columns a prompt is built from; any other column of a source is ignored.
PROMPT_COLUMNS = (*REQUIRED_COLUMNS, "reference")
FETCH_ROWS = 2048
HF_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


class SourceError(RuntimeError):
    """A prompt source cannot be read at all; the message names the source and the cause."""


@dataclass(frozen=True)
class RowProblem:
    """Why a row cannot become a prompt: `kind` sorts it (the report counts quarantined rows
    per kind, such as "not valid JSON"), `message` says exactly what is wrong."""

    kind: str
    message: str


@dataclass(frozen=True)
class RawRow:
    """One row as read from a source: its fields, or the problem that kept it from being read.

    `row` is the 0-based index of the row in its source; `where` says the same for people
    ("line 8" in a JSONL file, "row 7" elsewhere), and is stored with the row, so the report
    and the quarantine reasons number rows alike. `raw` is the row's original text, if any.
    """

    source: str
    row: int
    where: str
    fields: dict[str, Any] | None = None
    problem: RowProblem | None = None
    raw: str | None = None


def read_rows(source: Source, base_dir: Path) -> Iterator[RawRow]:
    """Every row of `source`, in order, bad ones included."""
    return _READERS[source.kind](source, base_dir)


def source_label(source: Source) -> str:
    """The readable name recorded as `source` on every prompt of this source."""
    match source.kind:
        case "demo" | "humaneval":
            return source.kind
        case "jsonl" | "parquet":
            return f"{source.kind}:{source.path}"
        case "hf":
            subset = f":{source.subset}" if source.subset else ""
            return f"hf:{source.dataset}{subset}:{source.split}"
        case "duckdb":
            # Several queries may feed one build; the hash keeps their labels apart.
            return f"duckdb:{hashlib.sha256(source.query.encode()).hexdigest()[:8]}"
    raise ValueError(f"unknown source kind {source.kind!r}")


# The demo family asks for exact strings, and one task is about letter case ("uppercase"):
# its typical wrong answers (title case) pass problemtools' default, case-insensitive
# comparison.
DEMO_COMPARISON = {"case_sensitive": True}


def source_license(source: Source) -> str:
    """The license recorded on every prompt of this source."""
    return {"demo": DEMO_LICENSE, "humaneval": HUMANEVAL_LICENSE}.get(source.kind) or source.license


def refuse_repeated_labels(sources: list[Source]) -> None:
    """SourceError when two sources are the same source (one label)."""
    # Rows are keyed by (source label, row): two sources with one label would overwrite
    # each other's quarantine rows and mix up provenance.
    seen: dict[str, int] = {}
    for position, source in enumerate(sources):
        label = source_label(source)
        if label in seen:
            raise SourceError(
                f"sources[{seen[label]}] and sources[{position}] are the same source ({label}); "
                "list each source once"
            )
        seen[label] = position


def check_readable(source: Source, base_dir: Path) -> None:
    """SourceError unless `source` can be opened and read up to its first row: what a
    build checks before it starts, so a missing file fails before anything is recorded."""
    next(read_rows(source, base_dir), None)


def source_file(source: Source, base_dir: Path) -> Path | None:
    """The file a JSONL or Parquet source reads (SourceError if there is none); None for
    the other kinds."""
    if source.kind in ("jsonl", "parquet"):
        return _existing_file(base_dir, source.path, source_label(source))
    return None


def _read_demo(source: DemoSource, base_dir: Path) -> Iterator[RawRow]:
    label = source_label(source)
    draw = probe_problems if source.split == "probe" else build_problems
    for index, problem in enumerate(draw(source.count, source.seed)):
        cases = [{"input": stdin, "output": stdout} for stdin, stdout in problem.cases]
        fields = {
            "text": problem.text,
            "tests": {"style": "stdio", "cases": cases, "comparison": DEMO_COMPARISON},
            "reference": problem.reference,
        }
        yield RawRow(label, index, f"row {index}", fields)


def _read_humaneval(source: HumanEvalSource, base_dir: Path) -> Iterator[RawRow]:
    problems = islice(humaneval_problems(), source.limit)
    for index, problem in enumerate(problems):
        yield RawRow("humaneval", index, problem["task_id"], humaneval_fields(problem))


def _read_jsonl(source: FileSource, base_dir: Path) -> Iterator[RawRow]:
    label = source_label(source)
    path = _existing_file(base_dir, source.path, label)
    try:
        with path.open("rb") as file:
            lines = ((index, line) for index, line in enumerate(file) if line.strip())
            for index, line in islice(lines, source.limit):
                yield _jsonl_row(label, index, line)
    except OSError as exc:
        raise SourceError(f"{label}: cannot read {path}: {exc.strerror or exc}") from exc


def _jsonl_row(label: str, index: int, line: bytes) -> RawRow:
    where = f"line {index + 1}"
    try:
        # A byte-order mark may open the file; it is not part of the first record.
        text = line.decode("utf-8-sig" if index == 0 else "utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        shown = line.decode("utf-8", "backslashreplace").rstrip("\r\n")
        problem = RowProblem("not valid UTF-8", f"not valid UTF-8 at byte {exc.start}")
        return RawRow(label, index, where, problem=problem, raw=shown)
    try:
        value = json.loads(text)
    except Exception as exc:
        # Any exception: a valid-looking line can still break the parser (RecursionError when
        # nested too deep, ValueError for a huge integer), and it is one bad row all the same.
        reason = exception_reason(exc, json.JSONDecodeError)
        problem = RowProblem("not valid JSON", f"not valid JSON: {reason}")
        return RawRow(label, index, where, problem=problem, raw=text)
    if not isinstance(value, dict):
        message = f"expected a JSON object, got {type(value).__name__}"
        return RawRow(
            label, index, where, problem=RowProblem("not a JSON object", message), raw=text
        )
    return RawRow(label, index, where, fields=value, raw=text)


def exception_reason(exc: Exception, *expected: type[Exception]) -> str:
    """`exc` worded for a quarantine reason: an expected exception by its message alone, any
    other one (RecursionError, MemoryError, ...) led by its type, as its message may be empty."""
    if isinstance(exc, expected):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _read_parquet(source: FileSource, base_dir: Path) -> Iterator[RawRow]:
    label = source_label(source)
    path = _existing_file(base_dir, source.path, label)
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(f"{label}: cannot read Parquet file {path}: {exc}") from exc
    names = parquet.schema_arrow.names
    _require_columns(label, names)
    columns = [name for name in PROMPT_COLUMNS if name in names]
    batches = parquet.iter_batches(batch_size=FETCH_ROWS, columns=columns)
    rows = chain.from_iterable(batch.to_pylist() for batch in batches)
    try:
        yield from _numbered(label, rows, source.limit)
    except (pa.ArrowException, OSError) as exc:
        # A file whose footer reads well may still break in a later row group.
        raise SourceError(f"{label}: cannot read Parquet file {path}: {exc}") from exc


def _read_hf(source: HFSource, base_dir: Path) -> Iterator[RawRow]:
    label = source_label(source)
    dataset = _load_hf_dataset(source, base_dir, label)
    fields_by_column = {
        source.text_field: "text",
        source.tests_field: "tests",
        "reference": "reference",
    }
    _require_columns(label, dataset.column_names, (source.text_field, source.tests_field))
    dataset = dataset.select_columns([c for c in fields_by_column if c in dataset.column_names])
    rows = ({fields_by_column[column]: value for column, value in row.items()} for row in dataset)
    yield from _numbered(label, rows, source.limit)


def _load_hf_dataset(source: HFSource, base_dir: Path, label: str) -> datasets.Dataset:
    local = _resolve(base_dir, source.dataset)
    if local.is_file() and local.suffix not in HF_BUILDERS:
        raise SourceError(f"{label}: cannot load {local}: use one of {', '.join(HF_BUILDERS)}")
    try:
        if (local / "state.json").is_file() or (local / "dataset_dict.json").is_file():
            saved = datasets.load_from_disk(str(local))
            return saved[source.split] if isinstance(saved, datasets.DatasetDict) else saved
        if local.is_file():
            files = {source.split: str(local)}
            return datasets.load_dataset(
                HF_BUILDERS[local.suffix], data_files=files, split=source.split
            )
        name = str(local) if local.is_dir() else source.dataset
        return datasets.load_dataset(name, source.subset, split=source.split)
    except Exception as exc:
        # `datasets` raises many unrelated types (OSError, ValueError, KeyError, its own);
        # for a build they all mean the same thing: this source cannot be read.
        raise SourceError(f"{label}: cannot load dataset {source.dataset!r}: {exc}") from exc


def _read_duckdb(source: SQLSource, base_dir: Path) -> Iterator[RawRow]:
    label = source_label(source)
    with duckdb.connect() as con:
        try:
            # Relative file names in the query resolve against the config's directory.
            con.execute(sql("source_search_path"), [str(base_dir)])
            result = con.execute(source.query)
        except duckdb.Error as exc:
            raise SourceError(f"{label}: query failed: {exc}") from exc
        if result.description is None:
            raise SourceError(f"{label}: the query returns no result set")
        names = [column[0] for column in result.description]
        _require_columns(label, names)
        batches = iter(lambda: result.fetchmany(FETCH_ROWS), [])
        rows = (
            {
                name: value
                for name, value in zip(names, values, strict=True)
                if name in PROMPT_COLUMNS
            }
            for values in chain.from_iterable(batches)
        )
        try:
            yield from _numbered(label, rows, source.limit)
        except duckdb.Error as exc:
            # DuckDB streams a result: a query may fail at a later batch (a bad cast).
            raise SourceError(f"{label}: query failed: {exc}") from exc


def _numbered(label: str, rows: Iterable[dict[str, Any]], limit: int | None) -> Iterator[RawRow]:
    for index, fields in enumerate(islice(rows, limit)):
        yield RawRow(label, index, f"row {index}", fields)


def _resolve(base_dir: Path, path: str) -> Path:
    return (base_dir / Path(path).expanduser()).resolve()


def _existing_file(base_dir: Path, path: str, label: str) -> Path:
    resolved = _resolve(base_dir, path)
    if not resolved.is_file():
        raise SourceError(f"{label}: no such file {resolved}")
    return resolved


def _require_columns(
    label: str, names: list[str], required: Iterable[str] = REQUIRED_COLUMNS
) -> None:
    missing = [name for name in required if name not in names]
    if missing:
        raise SourceError(
            f"{label}: no column named {', '.join(missing)} (it has: {', '.join(names)})"
        )


_READERS: dict[str, Callable[[Any, Path], Iterator[RawRow]]] = {
    "demo": _read_demo,
    "humaneval": _read_humaneval,
    "jsonl": _read_jsonl,
    "parquet": _read_parquet,
    "hf": _read_hf,
    "duckdb": _read_duckdb,
}
