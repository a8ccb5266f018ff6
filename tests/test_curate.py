"""Curation on a real DuckDB file: dedup decisions, published rows, the quality gate, funnel."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd
import pytest

from tessy_factory.config import BuildConfig, ModelConfig
from tessy_factory.curate.dedup import curate
from tessy_factory.curate.funnel import funnel, funnel_markdown
from tessy_factory.curate.quality import check_quality
from tessy_factory.curate.rows import COLUMNS, published_rows
from tessy_factory.db import connect, sql

SUM_PROMPT = "Read two integers and print their sum."
MAX_PROMPT = "Read a list of integers and print the largest."
SUM_CODE = "```python\nprint(sum(map(int, input().split())))\n```"
SUM_TEXT = "<think>\nAdd the two numbers.\nThen print.\n</think>\n\n" + SUM_CODE
# The same sample up to case and whitespace: an exact duplicate after normalisation.
SUM_TEXT_VARIANT = "<think>\nADD the two  numbers.\n\tThen print.\n</think>\n\n" + SUM_CODE + "  "
MAX_TEXT = (
    "<think>\nTake the maximum.\n</think>\n\n```python\nprint(max(map(int, input().split())))\n```"
)
MAX_TEXT_WRONG = (
    "<think>\nTake the minimum.\n</think>\n\n```python\nprint(min(map(int, input().split())))\n```"
)

# sample_id, prompt_id, mode, index, status, text, teacher_tokens, student_tokens, n_switches
GENERATIONS = [
    ("s0", "p-sum", "student-only", 0, "ok", SUM_TEXT, 0, 60, 0),
    ("s1", "p-sum", "tessy", 0, "ok", SUM_TEXT, 30, 70, 3),
    ("s2", "p-sum", "teacher-only", 0, "ok", SUM_TEXT_VARIANT, 100, 0, 0),
    ("s3", "p-max", "tessy", 0, "ok", MAX_TEXT_WRONG, 20, 40, 2),
    ("s4", "p-max", "tessy", 1, "failed", None, None, None, None),
    ("s5", "p-max", "tessy", 2, "ok", MAX_TEXT + "\n# unjudged", 10, 50, 1),
    ("s6", "p-max", "student-only", 0, "ok", MAX_TEXT, 0, 50, 0),
]
# sample_id, verdict, tests_passed, tests_total; s4 failed and s5 was never judged.
VERDICTS = [
    ("s0", "time_limit", 2, 3),
    ("s1", "accepted", 3, 3),
    ("s2", "accepted", 3, 3),
    ("s3", "wrong_answer", 1, 4),
    ("s6", "accepted", 4, 4),
]


def add_run(con: duckdb.DuckDBPyConnection, run_id: str, generations: list, verdicts: list) -> None:
    config = BuildConfig(
        teacher=ModelConfig(model="Qwen/Qwen3-8B"), student=ModelConfig(model="Qwen/Qwen3-0.6B")
    )
    con.execute(
        "INSERT INTO runs (run_id, name, config, config_hash, status, started_at)"
        " VALUES (?, 'demo', ?, ?, 'running', ?)",
        [run_id, config.model_dump_json(), config.fingerprint(), datetime(2026, 11, 27, 3)],
    )
    con.executemany(
        "INSERT INTO prompts (run_id, prompt_id, text, tests, source, source_row, license)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            [
                run_id,
                "p-sum",
                SUM_PROMPT,
                '{"style": "stdio", "cases": []}',
                "demo",
                0,
                "apache-2.0",
            ],
            [run_id, "p-max", MAX_PROMPT, '{"style": "stdio", "cases": []}', "file", 7, "mit"],
        ],
    )
    con.execute(
        "INSERT INTO quarantine (run_id, source, source_row, reason, raw)"
        " VALUES (?, 'file', 8, 'missing tests', '{\"text\": \"?\"}')",
        [run_id],
    )
    con.executemany(
        "INSERT INTO generations (run_id, sample_id, prompt_id, mode, sample_index, status,"
        " text, teacher_tokens, student_tokens, n_switches) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [[run_id, *row] for row in generations],
    )
    con.executemany(
        "INSERT INTO verdicts (run_id, sample_id, verdict, tests_passed, tests_total)"
        " VALUES (?, ?, ?, ?, ?)",
        [[run_id, *row] for row in verdicts],
    )


def curation_rows(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, tuple]:
    rows = con.execute(
        "SELECT sample_id, kept, reason, matched_id FROM curation WHERE run_id = ?", [run_id]
    ).fetchall()
    return {sample_id: tuple(rest) for sample_id, *rest in rows}


@pytest.fixture
def con(tmp_path):
    with connect(tmp_path / "factory.duckdb") as con:
        add_run(con, "r1", GENERATIONS, VERDICTS)
        yield con


def test_curate_gives_every_generation_one_reason(con):
    counts = curate(con, "r1", require_accepted=True)

    assert counts == {
        "prompt-excluded": 0,
        "prompt-unchecked": 0,
        "generation-failed": 1,
        "not-verified": 1,
        "not-accepted": 2,
        "exact-duplicate": 1,
        "contaminated": 0,
        "near-duplicate": 0,
        "kept": 2,
    }
    assert curation_rows(con, "r1") == {
        "s0": (False, "not-accepted", None),
        "s1": (True, "kept", None),
        "s2": (False, "exact-duplicate", "s1"),
        "s3": (False, "not-accepted", None),
        "s4": (False, "generation-failed", None),
        "s5": (False, "not-verified", None),
        "s6": (True, "kept", None),
    }


def test_samples_of_a_prompt_the_check_excluded_or_could_not_check_are_dropped(con):
    con.execute(
        "INSERT INTO prompt_checks VALUES ('r1', 'p-sum', 'excluded', 'accepts an empty program'),"
        " ('r1', 'p-max', 'unchecked', 'the judge failed: could not run the program')"
    )

    counts = curate(con, "r1", require_accepted=True)

    assert counts["prompt-excluded"] == 3 and counts["prompt-unchecked"] == 4
    assert counts["kept"] == 0
    included = curate(con, "r1", require_accepted=True, include_unchecked=True)
    assert included["prompt-excluded"] == 3 and included["prompt-unchecked"] == 0
    rows = curation_rows(con, "r1")
    assert rows["s6"] == (True, "kept", None)
    assert rows["s3"] == (False, "not-accepted", None)
    assert rows["s1"] == (False, "prompt-excluded", None)


def test_without_require_accepted_the_smallest_keepable_id_wins(con):
    counts = curate(con, "r1", require_accepted=False)

    rows = curation_rows(con, "r1")
    assert rows["s0"] == (True, "kept", None)
    assert rows["s1"] == (False, "exact-duplicate", "s0")
    assert rows["s2"] == (False, "exact-duplicate", "s0")
    assert rows["s3"] == (True, "kept", None)
    assert counts["not-accepted"] == 0
    assert counts["kept"] == 3


def test_curate_is_idempotent_and_leaves_other_runs_alone(con):
    add_run(con, "r2", GENERATIONS[:2], VERDICTS[:2])
    curate(con, "r2", require_accepted=True)
    other_run = curation_rows(con, "r2")

    first = curate(con, "r1", require_accepted=True)
    first_rows = curation_rows(con, "r1")
    second = curate(con, "r1", require_accepted=True)

    assert second == first
    assert curation_rows(con, "r1") == first_rows
    assert con.execute("SELECT count(*) FROM curation WHERE run_id = 'r1'").fetchone()[0] == 7
    # The same text in another run is not a duplicate: dedup is per run.
    assert (
        curation_rows(con, "r2")
        == other_run
        == {
            "s0": (False, "not-accepted", None),
            "s1": (True, "kept", None),
        }
    )


def test_curate_names_an_unknown_run(con):
    with pytest.raises(ValueError, match="'r9'"):
        curate(con, "r9", require_accepted=True)


def test_published_rows_are_sft_ready_and_self_describing(con):
    curate(con, "r1", require_accepted=True)

    rows = published_rows(con, "r1")

    assert tuple(rows.columns) == COLUMNS
    assert rows["id"].tolist() == ["s1", "s6"]
    first = rows.iloc[0]
    assert first["messages"] == [
        {"role": "user", "content": SUM_PROMPT},
        {"role": "assistant", "content": SUM_TEXT},
    ]
    assert (first["prompt_id"], first["source"], first["license"]) == (
        "p-sum",
        "demo",
        "apache-2.0",
    )
    assert (first["teacher_model"], first["student_model"]) == ("Qwen/Qwen3-8B", "Qwen/Qwen3-0.6B")
    assert rows["teacher_token_share"].tolist() == pytest.approx([0.3, 0.0])
    assert rows["n_tokens"].tolist() == [100, 50]
    assert rows["n_switches"].tolist() == [3, 0]
    assert rows["mode"].tolist() == ["tessy", "student-only"]
    assert rows["verdict"].tolist() == ["accepted", "accepted"]
    assert rows[["tests_passed", "tests_total"]].values.tolist() == [[3, 3], [4, 4]]
    assert set(rows["run_id"]) == {"r1"}
    assert pd.api.types.is_float_dtype(rows["teacher_token_share"])
    assert pd.api.types.is_integer_dtype(rows["n_tokens"])


@pytest.fixture
def good_rows(con) -> pd.DataFrame:
    curate(con, "r1", require_accepted=True)
    return published_rows(con, "r1")


def failures(rows: pd.DataFrame, max_total_tokens: int = 4096, min_rows: int = 1) -> set:
    result = check_quality(rows, max_total_tokens=max_total_tokens, min_rows=min_rows)
    failed = {(o.expectation, o.column) for o in result.results if not o.success}
    assert result.success == (not failed)
    return failed


def test_quality_gate_passes_good_rows(good_rows):
    result = check_quality(good_rows, max_total_tokens=4096, min_rows=2)

    assert result.success
    assert len(result.results) == 9
    assert all(outcome.success for outcome in result.results)
    table = result.to_markdown()
    assert table.startswith("| Check | Expectation | Column | Result | Observed |")
    assert "FAIL" not in table
    assert "| ids are unique | expect_column_values_to_be_unique | id | pass |" in table


def test_quality_gate_fails_on_a_duplicated_id(good_rows):
    rows = pd.concat([good_rows, good_rows.iloc[[0]]], ignore_index=True)

    assert failures(rows) == {("expect_column_values_to_be_unique", "id")}


def test_quality_gate_fails_on_a_malformed_think_block(good_rows):
    rows = good_rows.copy()
    prompt = rows.at[0, "messages"][0]
    rows.at[0, "messages"] = [prompt, {"role": "assistant", "content": "<think>\nunclosed"}]

    result = check_quality(rows, max_total_tokens=4096, min_rows=1)

    failed = [o for o in result.results if not o.success]
    assert [(o.expectation, o.column) for o in failed] == [
        ("expect_column_values_to_match_regex", "assistant_text")
    ]
    assert "1 unexpected" in failed[0].observed
    assert "unclosed" in result.to_markdown()


def test_think_block_pattern_needs_the_exact_layout(good_rows):
    broken = [
        "no think block at all",
        "<think>\nthinking\n</think>\nanswer",  # one newline where two are required
        "<think>\nthinking\n</think>\n\n",  # no answer
        "<think>thinking\n</think>\n\nanswer",  # no newline after <think>
    ]
    rows = pd.concat([good_rows.iloc[[0]]] * len(broken), ignore_index=True)
    rows["id"] = [f"x{i}" for i in range(len(broken))]
    rows["messages"] = [[{"role": "assistant", "content": text}] for text in broken]

    result = check_quality(rows, max_total_tokens=4096, min_rows=1)

    regex = next(o for o in result.results if o.column == "assistant_text")
    assert not regex.success
    assert regex.observed.startswith(f"{len(broken)} unexpected")


@pytest.mark.parametrize(
    ("column", "value", "failed"),
    [
        ("teacher_token_share", 1.5, ("expect_column_values_to_be_between", "teacher_token_share")),
        ("n_tokens", 5000, ("expect_column_values_to_be_between", "n_tokens")),
        ("verdict", "maybe", ("expect_column_values_to_be_in_set", "verdict")),
        (
            "tests_passed",
            9,
            ("expect_column_pair_values_a_to_be_greater_than_b", "tests_total >= tests_passed"),
        ),
    ],
)
def test_quality_gate_fails_on_an_out_of_bounds_value(good_rows, column, value, failed):
    rows = good_rows.copy()
    rows.loc[0, column] = value

    assert failures(rows) == {failed}


def test_quality_gate_fails_on_too_few_rows(con):
    uncurated = published_rows(con, "r1")
    assert tuple(uncurated.columns) == COLUMNS
    assert uncurated.empty

    result = check_quality(uncurated, max_total_tokens=4096, min_rows=1)

    assert not result.success
    row_count = next(o for o in result.results if not o.success)
    assert row_count.expectation == "expect_table_row_count_to_be_between"
    assert row_count.observed == "observed 0"
    curate(con, "r1", require_accepted=True)
    two_rows = published_rows(con, "r1")
    assert failures(two_rows, min_rows=3) == {("expect_table_row_count_to_be_between", "")}


def test_quality_gate_names_missing_columns():
    result = check_quality(pd.DataFrame(), max_total_tokens=4096, min_rows=1)

    assert not result.success
    columns = result.results[0]
    assert columns.expectation == "expect_table_columns_to_match_set"
    assert not columns.success
    assert "'messages'" in columns.observed
    assert "**FAIL**" in result.to_markdown()


def test_funnel_counts_each_stage(con):
    curate(con, "r1", require_accepted=True)

    counts = funnel(con, "r1")

    assert counts == {
        "prompts_in": 3,
        "quarantined": 1,
        "tests_excluded": 0,
        "tests_unchecked": 0,
        "generated": 6,
        "failed": 1,
        "verified": 3,
        "exact_duplicates": 1,
        "contaminated": 0,
        "near_duplicates": 0,
        "kept": 2,
        "published": 0,  # kept rows count as published only once a release holds them
    }
    assert list(counts) == [
        "prompts_in",
        "quarantined",
        "tests_excluded",
        "tests_unchecked",
        "generated",
        "failed",
        "verified",
        "exact_duplicates",
        "contaminated",
        "near_duplicates",
        "kept",
        "published",
    ]
    table = funnel_markdown(counts)
    assert table.splitlines()[2] == "| prompts in | 3 |"
    assert table.splitlines()[-1] == "| published | 0 |"


def test_published_counts_the_rows_of_the_runs_release(con):
    curate(con, "r1", require_accepted=True)
    con.execute(
        sql("insert_release"),
        ["r1", "tessy/demo", "v2026.11.27-1", "/hub", "abc", 2, datetime(2026, 11, 27, 4), []],
    )
    assert funnel(con, "r1")["published"] == 2


def test_the_same_answer_to_two_prompts_is_not_a_duplicate(con):
    same_answer = [
        ("t0", "p-sum", "tessy", 0, "ok", SUM_TEXT, 30, 70, 3),
        ("t1", "p-max", "tessy", 0, "ok", SUM_TEXT, 30, 70, 3),
    ]
    add_run(con, "r2", same_answer, [("t0", "accepted", 1, 1), ("t1", "accepted", 1, 1)])
    counts = curate(con, "r2", require_accepted=True)
    assert counts["kept"] == 2 and counts["exact-duplicate"] == 0
