"""A build's sources are hashed before it starts: an edited source cannot be mixed into a
resumed run, and a source that cannot be read stops the build before anything is recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from config_file import config_file

from flows.build import build_dataset
from tessy_factory.config import BuildConfig, DemoSource, FileSource, SQLSource
from tessy_factory.sources import SourceError
from tessy_factory.sources.fingerprint import source_fingerprints

GOOD = {"text": "Print 1.", "tests": [{"input": "", "output": "1\n"}]}
OTHER = {"text": "Print 2.", "tests": [{"input": "", "output": "2\n"}]}


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_each_kind_of_source_hashes_its_content(tmp_path: Path) -> None:
    jsonl(tmp_path / "p.jsonl", [GOOD, OTHER])
    pq.write_table(pa.Table.from_pylist([GOOD]), tmp_path / "p.parquet")
    sources = [
        DemoSource(count=3),
        FileSource(kind="jsonl", path="p.jsonl"),
        FileSource(kind="parquet", path="p.parquet"),
        SQLSource(query="SELECT * FROM read_json('p.jsonl')"),
    ]
    before = source_fingerprints(sources, tmp_path)
    assert list(before) == ["demo", "jsonl:p.jsonl", "parquet:p.parquet", *list(before)[3:]]
    assert source_fingerprints(sources, tmp_path) == before

    # One line of the JSONL file edited: its hash and the query's over it change, only.
    jsonl(tmp_path / "p.jsonl", [GOOD, {**OTHER, "text": "Print 3."}])
    after = source_fingerprints(sources, tmp_path)
    changed = {label for label in before if before[label] != after[label]}
    assert changed == {"jsonl:p.jsonl", list(before)[3]}


@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_a_missing_file_is_named(tmp_path: Path, kind: str) -> None:
    with pytest.raises(SourceError, match=f"{kind}:absent.{kind}: no such file .*absent"):
        source_fingerprints([FileSource(kind=kind, path=f"absent.{kind}")], tmp_path)


def test_a_file_that_is_not_parquet_is_refused(tmp_path: Path) -> None:
    jsonl(tmp_path / "p.parquet", [GOOD])
    with pytest.raises(SourceError, match="cannot read Parquet file"):
        source_fingerprints([FileSource(kind="parquet", path="p.parquet")], tmp_path)


def build_yaml(tmp_path: Path, source_path: str) -> Path:
    config = tmp_path / "build.yaml"
    sources = [{"kind": "jsonl", "path": source_path}]
    config.write_text(yaml.safe_dump({"name": "fp", "sources": sources}), encoding="utf-8")
    return config


def test_tessy_build_refuses_a_missing_source_before_prefect_starts(tmp_path: Path) -> None:
    config = build_yaml(tmp_path, "absent.jsonl")
    home = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, "-m", "tessy_factory.cli", "build", str(config), "--home", str(home)],
        capture_output=True,
        text=True,
        env={"COLUMNS": "240", "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout.startswith(f"error: jsonl:absent.jsonl: no such file {tmp_path}/absent")
    # Nothing started: Prefect never logged, no database was made.
    assert "prefect" not in (done.stdout + done.stderr).lower()
    assert not (home / "factory.duckdb").exists()


def test_a_flow_run_with_a_missing_source_records_no_run(tmp_path: Path, prefect_harness) -> None:
    # As the Prefect UI or a deployment runs it: no CLI in front.
    home = tmp_path / "home"
    config = BuildConfig.model_validate(
        {"home": str(home), "sources": [{"kind": "jsonl", "path": "absent.jsonl"}]}
    )
    with pytest.raises(SourceError, match="no such file"):
        build_dataset(config_file(config), run_id="missing-1")
    assert not (home / "factory.duckdb").exists()


def test_the_same_source_twice_is_refused_before_anything_runs(tmp_path: Path) -> None:
    jsonl(tmp_path / "p.jsonl", [GOOD])
    twice = [FileSource(kind="jsonl", path="p.jsonl")] * 2
    with pytest.raises(SourceError, match=r"sources\[0\] and sources\[1\] are the same source"):
        source_fingerprints(twice, tmp_path)


def test_a_query_failing_past_its_first_rows_is_a_source_error(tmp_path: Path) -> None:
    # DuckDB streams results: the bad cast is met only after thousands of good rows.
    query = (
        "SELECT 'Print 1.' AS text, "
        "CAST(CASE WHEN i < 100000 THEN '[]' ELSE 'x' END AS INTEGER[]) AS tests "
        "FROM range(200000) AS t(i)"
    )
    with pytest.raises(SourceError, match="query failed"):
        source_fingerprints([SQLSource(query=query)], tmp_path)
