"""Two consecutive demo builds into one dataset, as a nightly schedule runs them: the second
publishes none of the first's rows again (near-duplicates of published rows, named in the
drop ledger with the first version), a flagged contaminated row is published and reported,
the funnel adds up, the ledger query of the README runs, and the version loads."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
from config_file import config_file

from flows.build import build_dataset
from tessy_factory.config import BuildConfig, DemoSource
from tessy_factory.curate.decontam import EvalSetError
from tessy_factory.curate.funnel import funnel
from tessy_factory.db import connect, sql
from tessy_factory.sources.readers import read_rows

ROOT = Path(__file__).resolve().parent.parent


def config(home: Path, eval_file: Path, count: int) -> BuildConfig:
    return BuildConfig.model_validate(
        {
            "home": str(home),
            "sources": [{"kind": "demo", "count": count, "seed": 2026}],
            "generation": {"modes": ["tessy"], "max_total_tokens": 512, "answer_max_tokens": 128},
            "curation": {
                "min_rows_to_publish": 0,
                "decontamination": {
                    "action": "flag",
                    "eval_files": [{"name": "local", "kind": "jsonl", "path": str(eval_file)}],
                },
            },
        }
    )


@pytest.fixture(scope="module")
def builds(tmp_path_factory, models_root, prefect_harness):
    root = tmp_path_factory.mktemp("ledger")
    home = root / "home"
    home.mkdir()
    (home / "models").symlink_to(models_root, target_is_directory=True)
    # An evaluation set holding the first demo prompt, word for word.
    first_prompt = next(read_rows(DemoSource(count=1, seed=2026), root)).fields["text"]
    eval_file = root / "eval.jsonl"
    eval_file.write_text(json.dumps({"id": "q-7", "prompt": first_prompt}) + "\n")
    first = build_dataset(config_file(config(home, eval_file, count=2)), run_id="night-1")
    # The next night draws the same two problems and one more.
    second = build_dataset(config_file(config(home, eval_file, count=3)), run_id="night-2")
    return home, first, second


def ledger(home: Path, run_id: str) -> list[dict]:
    with connect(home / "factory.duckdb") as con:
        frame = con.execute(sql("drop_ledger"), {"run_id": run_id}).df()
    return frame.to_dict("records")


def test_the_second_build_publishes_none_of_the_first_builds_rows(builds, tmp_path):
    home, first, second = builds
    with connect(home / "factory.duckdb") as con:
        published = con.execute(
            "SELECT sample_id FROM curation WHERE run_id = 'night-1' AND kept"
        ).fetchall()
    first_ids = {sample_id for (sample_id,) in published}
    assert len(first_ids) == first.rows >= 1
    # The hub's working tree holds the latest version, the second build's.
    loaded = datasets.load_dataset(second.dataset, split="train", cache_dir=str(tmp_path))
    assert len(loaded) == second.rows
    # A sample id hashes prompt, mode and index: a row published again would keep its id.
    assert not first_ids & set(loaded["id"])
    near = [entry for entry in ledger(home, "night-2") if entry["reason"] == "near-duplicate"]
    assert {entry["matched_id"] for entry in near} == first_ids
    for entry in near:
        assert (entry["matched_run"], entry["matched_version"]) == ("night-1", first.version)
        assert entry["field"] == "response" and 0.8 <= entry["similarity"] <= 1.0


def test_a_flagged_contaminated_row_is_published_and_reported(builds):
    home, first, _ = builds
    flagged = [entry for entry in ledger(home, "night-1") if entry["flag"] == "contaminated"]
    assert flagged and all(e["reason"] == "kept" for e in flagged)
    assert {(e["field"], e["detail"], e["matched_id"]) for e in flagged} == {
        ("prompt", "local:q-7", "q-7")
    }
    assert all(e["overlap"] >= 1 for e in flagged)
    report = Path(first.report).read_text()
    assert "## Drop ledger" in report
    assert f"| flagged contaminated | prompt | local | {len(flagged)} |" in report


def test_the_funnel_counts_every_reason_and_adds_up(builds):
    home, _, second = builds
    with connect(home / "factory.duckdb") as con:
        counts = funnel(con, "night-2")
        reasons = dict(con.execute(sql("curate_counts"), {"run_id": "night-2"}).fetchall())
    assert counts["near_duplicates"] == reasons["near-duplicate"] >= 1
    assert counts["kept"] == counts["published"] == second.rows
    assert sum(reasons.values()) == counts["generated"] + counts["failed"]
    report = Path(second.report).read_text()
    assert f"| near duplicates | {counts['near_duplicates']} |" in report


def test_a_resumed_build_hashes_nothing_again(builds):
    home, _, second = builds
    with connect(home / "factory.duckdb") as con:
        before = con.execute("SELECT count(*) FROM near_dup_rows").fetchone()[0]
    again_config = config(home, Path(home.parent / "eval.jsonl"), count=3)
    again = build_dataset(config_file(again_config), run_id="night-2")
    with connect(home / "factory.duckdb") as con:
        after = con.execute("SELECT count(*) FROM near_dup_rows").fetchone()[0]
    assert (again.version, after) == (second.version, before)


def test_the_readmes_ledger_command_lists_the_drops(builds):
    home, _, _ = builds
    block = re.search(
        r"```bash\n(\.venv/bin/python -c .*drop_ledger.*)\n```",
        ROOT.joinpath("README.md").read_text(),
    )
    command = block.group(1).replace(".venv/bin/python", sys.executable)
    command = command.replace(".tessy/factory.duckdb", str(home / "factory.duckdb"))
    command = command.replace("RUN_ID", "night-2")
    done = subprocess.run(command, shell=True, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "near-duplicate" in done.stdout and "night-1" in done.stdout


def test_a_missing_eval_file_fails_the_build_before_it_starts(tmp_path, prefect_harness):
    home = tmp_path / "home"
    absent = tmp_path / "absent.jsonl"
    with pytest.raises(EvalSetError, match=rf"eval set local \({absent}\): no such file"):
        build_dataset(config_file(config(home, absent, count=1)), run_id="absent-1")
    assert not (home / "factory.duckdb").exists()
