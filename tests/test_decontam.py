"""Decontamination and the drop ledger on a real DuckDB file: the n-gram rule on hand-made
strings, HumanEval prompts and solutions planted in a run and dropped with the benchmark and
item in the ledger, near-duplicates kept by the stated rule, and evaluation files that fail
naming the file and the problem."""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_curate import GENERATIONS, VERDICTS, add_run

from tessy_factory.config import BuildConfig
from tessy_factory.curate.decontam import (
    EvalItem,
    EvalSetError,
    find_contamination,
    humaneval_items,
    read_eval_file,
)
from tessy_factory.curate.decontam_config import DecontaminationConfig, EvalFile
from tessy_factory.curate.dedup import curate
from tessy_factory.curate.funnel import funnel
from tessy_factory.curate.ledger import drop_contaminated, drop_near_duplicates
from tessy_factory.curate.near_dup import Corpus
from tessy_factory.curate.near_dup_config import NearDupConfig
from tessy_factory.curate.student_tokens import near_dup_tokenizer
from tessy_factory.db import connect, sql
from tessy_factory.engine.local_model import ModelLoadError
from tessy_factory.publish.revisions import settle_revisions
from tessy_factory.sources.humaneval import humaneval_fields, humaneval_problems

TWENTY = " ".join(f"word{i}" for i in range(20))


@pytest.fixture
def con(tmp_path: Path):
    with connect(tmp_path / "factory.duckdb") as connection:
        add_run(connection, "r1", GENERATIONS, VERDICTS)
        yield connection


def rows(**prompts: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_id": list(prompts),
            "prompt": list(prompts.values()),
            "text": [None] * len(prompts),
        }
    )


def test_one_shared_n_gram_of_words_is_an_overlap_whatever_the_case_and_punctuation(
    tmp_path: Path,
) -> None:
    items = [EvalItem("bench", "item-1", (TWENTY, "sort the LIST")), EvalItem("bench", "b", ("x",))]
    words = TWENTY.split()
    found = find_contamination(
        duckdb.connect(),
        rows(
            thirteen="Intro: " + ", ".join(words[3:16]).upper() + "!",
            fourteen=" ".join(words[:14]),
            twelve=" ".join(words[:12]) + " other " + " ".join(words[12:]),
            short="Sort the list!",
            short_longer="sort the list please",
        ),
        items,
        n=13,
    )
    assert [(c.sample_id, c.field, c.detail, c.overlap) for c in found] == [
        ("fourteen", "prompt", "bench:item-1", 2),
        ("short", "prompt", "bench:item-1", None),
        ("thirteen", "prompt", "bench:item-1", 1),
    ]


def test_a_prompt_and_a_solution_planted_from_humaneval_are_dropped_naming_the_item(con) -> None:
    problems = {p["task_id"]: p for p in humaneval_problems()}
    con.execute(
        "UPDATE prompts SET text = ? WHERE prompt_id = 'p-sum'",
        [humaneval_fields(problems["HumanEval/12"])["text"]],
    )
    copied = (
        "def has_close_elements(numbers, threshold):\n"
        + problems["HumanEval/0"]["canonical_solution"]
    )
    solution = f"<think>\nCompare pairs.\n</think>\n\n```python\n{copied}```"
    con.execute("UPDATE generations SET text = ? WHERE sample_id = 's6'", [solution])
    curate(con, "r1", require_accepted=True)

    dropped = drop_contaminated(con, "r1", humaneval_items(), DecontaminationConfig(), "python")

    ledger = con.execute(sql("drop_ledger"), {"run_id": "r1"}).df().set_index("sample_id")
    contaminated = ledger[ledger["reason"] == "contaminated"]
    assert dropped == 2
    assert contaminated[["field", "detail", "matched_id"]].to_dict("index") == {
        "s1": {"field": "prompt", "detail": "humaneval:HumanEval/12", "matched_id": "HumanEval/12"},
        "s6": {"field": "solution", "detail": "humaneval:HumanEval/0", "matched_id": "HumanEval/0"},
    }
    assert (contaminated["overlap"] >= 1).all()
    counts = funnel(con, "r1")
    assert (counts["contaminated"], counts["kept"]) == (2, 0)


def _item(problem: dict) -> EvalItem:
    return EvalItem(
        "humaneval", problem["task_id"], (problem["prompt"], problem["canonical_solution"])
    )


def test_flag_mode_keeps_the_row_with_its_flag(con) -> None:
    con.execute("UPDATE prompts SET text = ? WHERE prompt_id = 'p-sum'", [TWENTY])
    curate(con, "r1", require_accepted=True)
    flag = DecontaminationConfig(humaneval=False, action="flag")

    assert drop_contaminated(con, "r1", [EvalItem("local", "7", (TWENTY,))], flag, "python") == 1

    entry = con.execute(
        "SELECT kept, reason, flag, detail, overlap FROM curation WHERE sample_id = 's1'"
    ).fetchone()
    assert entry == (True, "kept", "contaminated", "local:7", 8)
    assert funnel(con, "r1")["kept"] == 2


def thinking(rng: random.Random) -> str:
    return " ".join(f"w{rng.randrange(5000)}" for _ in range(200))


def test_a_near_duplicate_cluster_keeps_the_mode_listed_first_and_a_rerun_hashes_nothing(
    con,
) -> None:
    text = thinking(random.Random(1))
    near = text.replace(text.split()[100], "changed", 1)
    # s1 (tessy) and s6 (student-only), both accepted, now near-copies of each other (s2,
    # no longer an exact copy of s1, is kept and hashed too).
    for sample_id, body in (("s1", text), ("s6", near)):
        full = f"<think>\n{body}\n</think>\n\n```python\nprint(1)\n```"
        con.execute("UPDATE generations SET text = ? WHERE sample_id = ?", [full, sample_id])
    curate(con, "r1", require_accepted=True)

    first = drop_near_duplicates(con, "r1", NearDupConfig(), "org/data", ["student-only", "tessy"])
    again = drop_near_duplicates(con, "r1", NearDupConfig(), "org/data", ["student-only", "tessy"])

    assert first == {"response_hashed": 3, "response_dropped": 1}
    assert again == {"response_hashed": 0, "response_dropped": 0}
    entry = con.execute(
        "SELECT reason, matched_id, matched_run, matched_version, field, similarity "
        "FROM curation WHERE sample_id = 's1'"
    ).fetchone()
    assert entry[:5] == ("near-duplicate", "s6", "r1", None, "response")
    assert 0.8 <= entry[5] < 1.0


@pytest.mark.parametrize(
    ("kind", "content", "problem"),
    [
        ("jsonl", None, "no such file"),
        ("jsonl", b'{"id": 1, "prompt": "a"}\n{oops\n', "line 2: not valid JSON"),
        ("jsonl", b'{"id": 1, "text": "a"}\n', "line 1: 'prompt' is missing or not text"),
        ("jsonl", b'{"prompt": "a"}\n', "line 1: 'id' is not a string or integer"),
        ("jsonl", b'{"id": 1, "prompt": "a"}\n{"id": 1, "prompt": "b"}\n', "line 2: id 1 appears"),
        ("jsonl", b"\n", "no items"),
        ("parquet", b"not parquet", "not a readable Parquet file"),
    ],
)
def test_a_bad_eval_file_is_refused_naming_the_file_and_the_problem(
    tmp_path: Path, kind: str, content: bytes | None, problem: str
) -> None:
    path = tmp_path / f"eval.{kind}"
    if content is not None:
        path.write_bytes(content)
    spec = EvalFile(name="mine", kind=kind, path=path.name)
    with pytest.raises(EvalSetError) as caught:
        read_eval_file(spec, tmp_path)
    assert str(caught.value).startswith(f"eval set mine ({path}): {problem}")


def test_a_parquet_eval_file_reads_its_configured_fields(tmp_path: Path) -> None:
    table = pa.table({"task": ["t1", "t2"], "q": ["first", "second"], "a": ["x", "y"]})
    pq.write_table(table, tmp_path / "eval.parquet")
    spec = EvalFile(
        name="mine", kind="parquet", path="eval.parquet", id_field="task", text_fields=["q", "a"]
    )
    assert read_eval_file(spec, tmp_path) == [
        EvalItem("mine", "t1", ("first", "x")),
        EvalItem("mine", "t2", ("second", "y")),
    ]


def test_building_from_humaneval_needs_its_eval_set_turned_off() -> None:
    source = {"sources": [{"kind": "humaneval", "limit": 2}]}
    with pytest.raises(ValueError, match=r"decontamination\.humaneval: false"):
        BuildConfig.model_validate(source)
    off = {**source, "curation": {"decontamination": {"humaneval": False}}}
    assert BuildConfig.model_validate(off).sources[0].kind == "humaneval"


def test_token_shingles_in_a_build_use_the_students_tokenizer(con, models_root) -> None:
    config = BuildConfig.model_validate(
        {"curation": {"near_dup": {"response": {"shingle": "tokens"}}}}
    )
    text = thinking(random.Random(2))
    near = text.replace(text.split()[100], "changed", 1)
    for sample_id, body in (("s1", text), ("s6", near)):
        full = f"<think>\n{body}\n</think>\n\n```python\nprint(1)\n```"
        con.execute("UPDATE generations SET text = ? WHERE sample_id = ?", [full, sample_id])
    curate(con, "r1", require_accepted=True)
    # As generation does: the revision of every model is kept with the run.
    revision = settle_revisions("r1", config, models_root, con)["student"]["revision"]

    tokenizer = near_dup_tokenizer(con, "r1", config, models_root)
    near_dup = config.curation.near_dup
    dropped = drop_near_duplicates(con, "r1", near_dup, "org/data", ["tessy"], tokenizer)

    assert dropped == {"response_hashed": 3, "response_dropped": 1}
    entry = con.execute(
        "SELECT reason, matched_id, field FROM curation WHERE sample_id = 's6'"
    ).fetchone()
    assert entry == ("near-duplicate", "s1", "response")
    sketches = con.execute("SELECT DISTINCT sketch FROM near_dup_rows").fetchall()
    assert revision.startswith("sha256:")
    assert [sketch for (sketch,) in sketches] == [
        Corpus("org/data", "response", near_dup.response, tokenizer).sketch
    ]
    assert f"tokens[miniature:student@{revision}]x5" in sketches[0][0]


def test_a_token_shingled_build_names_a_tokenizer_that_cannot_load(con, tmp_path) -> None:
    missing = str(tmp_path / "no-model")
    config = BuildConfig.model_validate(
        {
            "student": {"model": missing},
            "curation": {"near_dup": {"prompt": {"enabled": True, "shingle": "tokens"}}},
        }
    )
    with pytest.raises(
        ModelLoadError, match=rf"shingle: tokens\): cannot load tokenizer '{missing}'"
    ):
        near_dup_tokenizer(con, "r1", config, tmp_path)
    # Words need no tokenizer: none is loaded.
    assert near_dup_tokenizer(con, "r1", BuildConfig(student={"model": missing}), tmp_path) is None
