"""Prompt sourcing on real files, real datasets and a real DuckDB database."""

from __future__ import annotations

import json
import re
from pathlib import Path

import datasets
import duckdb
import huggingface_hub.constants
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tessy_factory.config import (
    DemoSource,
    FileSource,
    HFSource,
    SQLSource,
    VerificationConfig,
)
from tessy_factory.curate.funnel import funnel
from tessy_factory.db import connect
from tessy_factory.demo.problems import TASK_KINDS
from tessy_factory.report import build_report
from tessy_factory.sources import (
    InvalidTestsError,
    SourceError,
    load_sources,
    normalise_tests,
    normalise_text,
    prompt_id,
    settle_candidates,
)
from tessy_factory.sources import load as load_module
from tessy_factory.verify.judge import Judge, Verdict

STDIO = [{"input": "1 2\n", "output": "3\n"}]
ADD_TEXT = "Read two integers and print their sum."


@pytest.fixture(autouse=True)
def offline_hf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No network and a private cache; `datasets` reads these settings at import time."""
    cache = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HOME", str(cache))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache / "datasets")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    with connect(tmp_path / "factory.duckdb") as connection:
        yield connection


def prompts_of(
    con: duckdb.DuckDBPyConnection, table: str = "prompts", run_id: str = "run"
) -> list[tuple]:
    """The rows settled as prompts, or those a load stored as candidates."""
    return con.execute(
        "SELECT source, source_row, prompt_id, text, tests, reference, license "
        f"FROM {table} WHERE run_id = ? ORDER BY source, source_row",
        [run_id],
    ).fetchall()


def reasons_of(con: duckdb.DuckDBPyConnection, run_id: str = "run") -> dict[int, str]:
    rows = con.execute(
        "SELECT source_row, reason FROM quarantine WHERE run_id = ? ORDER BY source_row",
        [run_id],
    ).fetchall()
    return dict(rows)


def test_prompt_id_is_stable_across_whitespace_and_unicode_variants() -> None:
    canonical = "Print café.\n\n  Then stop."
    variants = [
        canonical,
        "\n\n" + canonical + "\n\n\n",
        "Print café.   \r\n\r\n  Then stop.\t\r\n",
        "Print cafe\u0301.\n\n  Then stop.",  # decomposed é
    ]
    assert {normalise_text(v) for v in variants} == {canonical}
    ids = {prompt_id(normalise_text(v)) for v in variants}
    assert len(ids) == 1 and len(ids.pop()) == 16
    # Leading spaces inside a line are content, not noise.
    assert prompt_id(normalise_text("Print café.\n\nThen stop.")) != prompt_id(canonical)


def test_tests_are_normalised_to_the_canonical_shapes() -> None:
    canonical = {"style": "stdio", "cases": STDIO}
    assert normalise_tests(STDIO) == canonical
    assert normalise_tests(json.dumps(STDIO)) == canonical
    assert normalise_tests(json.dumps(canonical)) == canonical
    asserts = {"style": "assert", "entry_point": "add", "code": "assert add(1, 2) == 3"}
    assert normalise_tests(asserts) == asserts
    # Arrow structs fill keys a row lacks with null; those count as absent.
    assert normalise_tests({**asserts, "cases": None}) == asserts


@pytest.mark.parametrize(
    ("tests", "problem"),
    [
        ({"style": "foo"}, "unknown style 'foo'"),
        ([{"input": "1", "output": "2"}, {"input": "3"}], "case 2 has no 'output'"),
        ({"style": "stdio", "cases": []}, "non-empty list 'cases'"),
        ([{"input": "1", "output": 2}], "case 1 'output' is not a string (got int)"),
        ([{"input": "1", "output": "2", "expected": "2"}], "case 1 has unexpected keys"),
        ({"style": "assert", "entry_point": "1add", "code": "assert 1"}, "Python identifier"),
        ({"style": "assert", "entry_point": "class", "code": "assert 1"}, "Python keyword"),
        ({"style": "assert", "entry_point": "add", "code": "  "}, "non-empty 'code'"),
        ({"style": "assert", "entry_point": "add", "code": "def check(:"}, "does not compile"),
        ({"cases": STDIO}, "no 'style'"),
        (
            {"style": "stdio", "cases": STDIO, "comparison": {"float_abs_tol": 1e-6}},
            "'float_abs_tol' is no longer a comparison key; use float_absolute_tolerance",
        ),
        (
            {"style": "stdio", "cases": STDIO, "comparison": {"case_sensitive": "maybe"}},
            "comparison: case_sensitive: Input should be a valid boolean",
        ),
        (
            {"style": "stdio", "cases": STDIO, "comparison": {"float_tolerance": -1}},
            "comparison: float_tolerance: Input should be greater than or equal to 0",
        ),
        ({"style": "stdio", "cases": STDIO, "comparison": 3}, "'comparison' is not an object"),
        (
            {"style": "assert", "entry_point": "f", "code": "pass", "comparison": {}},
            "unexpected keys ['comparison']",
        ),
        ('[{"input": "1"', "not valid JSON"),
        (42, "got int"),
    ],
)
def test_malformed_tests_are_rejected_with_the_problem(tests: object, problem: str) -> None:
    with pytest.raises(InvalidTestsError, match=re.escape(problem)):
        normalise_tests(tests)


def test_jsonl_keeps_good_rows_and_quarantines_bad_ones_by_line(tmp_path: Path, con) -> None:
    good = {"text": ADD_TEXT, "tests": STDIO, "reference": "print(sum(map(int, input().split())))"}
    lines = [
        json.dumps(good).encode(),
        b'{"text": "Say hi" "tests": []}',
        json.dumps({"tests": STDIO}).encode(),
        json.dumps({"text": "Say hi", "tests": {"style": "foo"}}).encode(),
        b'{"text": "caf\xe9", "tests": []}',
        b"",
        json.dumps({"text": ADD_TEXT + "  \r\n", "tests": STDIO}).encode(),
        json.dumps(
            {
                "text": "Write add(a, b).",
                "tests": {"style": "assert", "entry_point": "add", "code": "assert add(1, 2) == 3"},
            }
        ).encode(),
        json.dumps({"text": "  \n \n", "tests": STDIO}).encode(),
        json.dumps(
            {"text": "Say hi", "tests": [{"input": "", "output": "hi"}, {"input": ""}]}
        ).encode(),
    ]
    (tmp_path / "prompts.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    source = FileSource(kind="jsonl", path="prompts.jsonl", license="MIT")

    counts = load_sources(con, "run", [source], tmp_path)
    # Every row is in the funnel before settling as after.
    assert funnel(con, "run")["prompts_in"] == 9
    # The check off, the first row of a text is its prompt.
    settled = settle_candidates(con, "run")

    assert counts == {"loaded": 3, "quarantined": 6}
    assert settled == {"prompts": 2, "duplicates": 1}
    assert (funnel(con, "run")["prompts_in"], funnel(con, "run")["quarantined"]) == (9, 7)
    reasons = reasons_of(con)
    assert reasons[1].startswith("line 2: not valid JSON: Expecting ','")
    assert reasons[2] == "line 3: missing text"
    assert reasons[3] == "line 4: tests: unknown style 'foo'"
    assert reasons[4] == "line 5: not valid UTF-8 at byte 13"
    assert reasons[6] == "line 7: duplicate of jsonl:prompts.jsonl line 1 (same prompt_id)"
    assert reasons[8] == "line 9: text is empty"
    assert reasons[9] == "line 10: tests: case 2 has no 'output'"
    assert con.execute("SELECT raw FROM quarantine WHERE source_row = 4").fetchone() == (
        '{"text": "caf\\xe9", "tests": []}',
    )
    (first, second) = prompts_of(con)
    assert first == (
        "jsonl:prompts.jsonl",
        0,
        prompt_id(ADD_TEXT),
        ADD_TEXT,
        json.dumps({"style": "stdio", "cases": STDIO}),
        good["reference"],
        "MIT",
    )
    assert second[1] == 7 and json.loads(second[4])["style"] == "assert" and second[5] is None


def test_a_problems_comparison_flags_are_kept_as_given() -> None:
    flagged = {"style": "stdio", "cases": STDIO, "comparison": {"float_tolerance": 1e-6}}
    both = {"float_relative_tolerance": 1e-6, "float_absolute_tolerance": 1e-6}
    assert normalise_tests(flagged) == {**flagged, "comparison": both}
    # A struct column's null flags are absent; no flags at all leave no "comparison".
    nulls = {"case_sensitive": True, "space_change_sensitive": None, "float_tolerance": None}
    assert normalise_tests({**flagged, "comparison": nulls})["comparison"] == {
        "case_sensitive": True
    }
    assert normalise_tests({**flagged, "comparison": {}}) == {"style": "stdio", "cases": STDIO}


def test_a_sources_comparison_flags_go_under_its_problems_own(tmp_path: Path, con) -> None:
    own = {"case_sensitive": False, "float_absolute_tolerance": 1e-9}
    asserts = {"style": "assert", "entry_point": "add", "code": "assert add(1, 2) == 3"}
    rows = [
        {"text": "Plain.", "tests": STDIO},
        {"text": "Own flags.", "tests": {"style": "stdio", "cases": STDIO, "comparison": own}},
        {"text": "Asserts.", "tests": asserts},
    ]
    (tmp_path / "p.jsonl").write_text("\n".join(map(json.dumps, rows)), encoding="utf-8")
    source = FileSource(
        kind="jsonl", path="p.jsonl", comparison={"case_sensitive": True, "float_tolerance": 1e-3}
    )
    assert load_sources(con, "run", [source], tmp_path) == {"loaded": 3, "quarantined": 0}
    stored = {row[3]: json.loads(row[4]) for row in prompts_of(con, "prompt_candidates")}
    assert stored["Plain."]["comparison"] == {
        "case_sensitive": True,
        "float_relative_tolerance": 1e-3,
        "float_absolute_tolerance": 1e-3,
    }
    assert stored["Own flags."]["comparison"] == {
        "case_sensitive": False,
        "float_relative_tolerance": 1e-3,
        "float_absolute_tolerance": 1e-9,
    }
    assert stored["Asserts."] == asserts


def test_jsonl_limit_counts_rows_not_blank_lines(tmp_path: Path, con) -> None:
    rows = [json.dumps({"text": f"Print {n}.", "tests": STDIO}) for n in range(4)]
    (tmp_path / "p.jsonl").write_text("\n\n".join(rows), encoding="utf-8")
    source = FileSource(kind="jsonl", path="p.jsonl", limit=3)
    assert load_sources(con, "run", [source], tmp_path) == {"loaded": 3, "quarantined": 0}
    texts = [row[3] for row in prompts_of(con, "prompt_candidates")]
    assert texts == ["Print 0.", "Print 1.", "Print 2."]


def test_parquet_with_string_and_struct_tests(tmp_path: Path, con) -> None:
    pd.DataFrame(
        {
            "text": [ADD_TEXT, "Say hi.", "Print 7."],
            "tests": [json.dumps(STDIO), None, json.dumps([{"input": "", "output": "7"}])],
            "reference": ["print(3)", None, None],
            "difficulty": [1, 2, 3],
        }
    ).to_parquet(tmp_path / "strings.parquet")
    # Mixed test styles become one Arrow struct column whose absent keys are null.
    structs = pa.Table.from_pylist(
        [
            {
                "text": "Write add.",
                "tests": {"style": "assert", "entry_point": "add", "code": "assert add(1, 2) == 3"},
            },
            {
                "text": "Echo.",
                "tests": {"style": "stdio", "cases": [{"input": "a", "output": "a"}]},
            },
        ]
    )
    pq.write_table(structs, tmp_path / "structs.parquet")
    sources = [
        FileSource(kind="parquet", path="strings.parquet", license="CC-BY-4.0"),
        FileSource(kind="parquet", path=str(tmp_path / "structs.parquet")),
    ]

    assert load_sources(con, "run", sources, tmp_path) == {"loaded": 4, "quarantined": 1}
    assert reasons_of(con) == {1: "row 1: missing tests"}
    stored = {row[3]: row for row in prompts_of(con, "prompt_candidates")}
    assert stored[ADD_TEXT][5:] == ("print(3)", "CC-BY-4.0")
    assert json.loads(stored["Write add."][4]) == {
        "style": "assert",
        "entry_point": "add",
        "code": "assert add(1, 2) == 3",
    }
    assert stored["Echo."][0] == f"parquet:{tmp_path / 'structs.parquet'}"


def test_hf_datasets_from_disk_from_a_data_file_and_a_missing_hub_id(tmp_path: Path, con) -> None:
    rows = [
        {"question": ADD_TEXT, "checks": json.dumps(STDIO), "reference": "print(3)"},
        {"question": "Say hi.", "checks": json.dumps({"style": "nope"}), "reference": None},
    ]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))
    (tmp_path / "more.jsonl").write_text(
        json.dumps({"text": "Print 7.", "tests": [{"input": "", "output": "7"}]}) + "\n",
        encoding="utf-8",
    )
    sources = [
        HFSource(dataset="saved", text_field="question", tests_field="checks", license="MIT"),
        HFSource(dataset="more.jsonl", split="test"),
    ]

    assert load_sources(con, "run", sources, tmp_path) == {"loaded": 2, "quarantined": 1}
    assert reasons_of(con) == {1: "row 1: tests: unknown style 'nope'"}
    assert [row[:2] + row[5:] for row in prompts_of(con, "prompt_candidates")] == [
        ("hf:more.jsonl:test", 0, None, "unknown"),
        ("hf:saved:train", 0, "print(3)", "MIT"),
    ]

    with pytest.raises(SourceError, match="hf:tessy-nobody/no-such-set:train: cannot load"):
        load_sources(con, "run", [HFSource(dataset="tessy-nobody/no-such-set")], tmp_path)
    with pytest.raises(SourceError, match="no column named prompt"):
        load_sources(con, "run", [HFSource(dataset="saved", text_field="prompt")], tmp_path)


def test_duckdb_query_source(tmp_path: Path, con) -> None:
    pd.DataFrame({"text": ["Print 7."], "tests": ['[{"input": "", "output": "7"}]']}).to_parquet(
        tmp_path / "extra.parquet"
    )
    sources = [
        SQLSource(
            query="""SELECT 'Add two numbers' AS text, '[{"input":"1 2","output":"3"}]' AS tests"""
        ),
        # A relative file name resolves against the config's directory.
        SQLSource(query="SELECT text, tests, 'print(7)' AS reference FROM 'extra.parquet'"),
    ]
    assert load_sources(con, "run", sources, tmp_path) == {"loaded": 2, "quarantined": 0}
    stored = {row[3]: row for row in prompts_of(con, "prompt_candidates")}
    assert json.loads(stored["Add two numbers"][4]) == {
        "style": "stdio",
        "cases": [{"input": "1 2", "output": "3"}],
    }
    assert stored["Print 7."][5] == "print(7)"
    assert stored["Print 7."][0] != stored["Add two numbers"][0]

    with pytest.raises(SourceError, match="query failed"):
        load_sources(con, "run", [SQLSource(query="SELECT * FROM no_such_table")], tmp_path)
    with pytest.raises(SourceError, match="no column named tests"):
        load_sources(con, "run", [SQLSource(query="SELECT 'x' AS text")], tmp_path)


@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_missing_file_raises_source_error_naming_the_path(tmp_path: Path, con, kind: str) -> None:
    source = FileSource(kind=kind, path=f"data/missing.{kind}")
    expected = f"{kind}:data/missing.{kind}: no such file {tmp_path / 'data' / f'missing.{kind}'}"
    with pytest.raises(SourceError) as raised:
        load_sources(con, "run", [source], tmp_path)
    assert str(raised.value) == expected


def test_loading_a_run_twice_adds_nothing(tmp_path: Path, con, monkeypatch) -> None:
    monkeypatch.setattr(load_module, "BATCH_ROWS", 3)  # several batches from a small file
    rows = [json.dumps({"text": f"Print {n % 5}.", "tests": STDIO}) for n in range(8)]
    (tmp_path / "p.jsonl").write_text("\n".join([*rows, "{oops"]), encoding="utf-8")
    sources = [FileSource(kind="jsonl", path="p.jsonl")]

    def load_and_settle(run_id: str) -> tuple[dict, dict]:
        return load_sources(con, run_id, sources, tmp_path), settle_candidates(con, run_id)

    first = load_and_settle("run")
    second = load_and_settle("run")
    other_run = load_and_settle("other")

    assert first == second == other_run
    assert first == ({"loaded": 8, "quarantined": 1}, {"prompts": 5, "duplicates": 3})
    table_counts = con.execute(
        "SELECT (SELECT count(*) FROM prompts), (SELECT count(*) FROM quarantine)"
    ).fetchone()
    assert table_counts == (10, 8)


def test_demo_source(tmp_path: Path, con) -> None:
    counts = load_sources(con, "run", [DemoSource(count=6, seed=7)], tmp_path)
    assert counts["loaded"] + counts["quarantined"] == 6 and counts["loaded"] >= 1
    for source, _, _, text, tests, reference, license in prompts_of(con, "prompt_candidates"):
        assert (source, license) == ("demo", "Apache-2.0")
        assert text and reference
        parsed = json.loads(tests)
        assert parsed["style"] == "stdio" and parsed["cases"]


def test_the_demos_uppercase_task_is_judged_with_case(tmp_path: Path, con) -> None:
    # Its typical wrong answer, title case, passes problemtools' case-insensitive default.
    load_sources(con, "run", [DemoSource(count=len(TASK_KINDS), seed=7)], tmp_path)
    uppercase = [row for row in prompts_of(con, "prompt_candidates") if "uppercase" in row[3]]
    assert uppercase
    tests = json.loads(uppercase[0][4])
    judge = Judge.from_config(VerificationConfig())
    answer = "<think>\nok\n</think>\n\n```python\nprint(input().{}())\n```\n"
    assert judge.judge(answer.format("upper"), tests).verdict is Verdict.ACCEPTED
    assert judge.judge(answer.format("title"), tests).verdict is Verdict.WRONG_ANSWER


def test_the_same_source_twice_is_refused_by_position(con, tmp_path: Path) -> None:
    twice = [DemoSource(count=2, seed=1), DemoSource(count=3, seed=2)]
    with pytest.raises(SourceError, match=r"sources\[0\] and sources\[1\].*\(demo\)"):
        load_sources(con, "run-1", twice, tmp_path)


DEEP = "[" * 100_000


def assert_tests(code: str) -> dict:
    return {"style": "assert", "entry_point": "f", "code": code}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (
            DEEP,
            "line 2: not valid JSON: RecursionError: maximum recursion depth exceeded "
            "while decoding a JSON array",
        ),
        (
            '{"text": "Big.", "tests": ' + "1" * 5000 + "}",
            "line 2: not valid JSON: ValueError: Exceeds the limit (4300 digits)",
        ),
        (
            json.dumps({"text": "Deep tests.", "tests": DEEP}),
            "line 2: tests: not valid JSON: RecursionError: maximum recursion depth exceeded",
        ),
        (
            json.dumps({"text": "Deep code.", "tests": assert_tests("-" * 100_000 + "1")}),
            "line 2: tests: assert test code does not compile: MemoryError",
        ),
        (
            json.dumps({"text": "Sum.", "tests": assert_tests("x = " + "1 + " * 100_000 + "1")}),
            "line 2: tests: assert test code does not compile: RecursionError: "
            "maximum recursion depth exceeded during compilation",
        ),
        (
            '{"text": "Say \\ud800.", "tests": [{"input": "", "output": "hi"}]}',
            "line 2: text is not valid Unicode: a lone surrogate at character 4",
        ),
        (
            '{"text": "Say hi.", "tests": [{"input": "", "output": "\\udfff"}]}',
            "line 2: tests: case 1 'output' is not valid Unicode: a lone surrogate at character 0",
        ),
        (
            '{"text": "Say hi.", "tests": [{"input": "", "output": "hi"}], "reference": "\\ud800"}',
            "line 2: reference is not valid Unicode: a lone surrogate at character 0",
        ),
    ],
    ids=[
        "deep-line",
        "huge-int",
        "deep-tests-string",
        "code-too-deep",
        "code-recursion",
        "surrogate-text",
        "surrogate-tests",
        "surrogate-reference",
    ],
)
def test_a_row_that_breaks_its_parser_is_quarantined_and_the_rows_beside_it_load(
    tmp_path: Path, con, line: str, reason: str
) -> None:
    good = [json.dumps({"text": text, "tests": STDIO}) for text in (ADD_TEXT, "Print 3.")]
    (tmp_path / "p.jsonl").write_text(f"{good[0]}\n{line}\n{good[1]}\n", encoding="utf-8")

    counts = load_sources(con, "run", [FileSource(kind="jsonl", path="p.jsonl")], tmp_path)

    assert counts == {"loaded": 2, "quarantined": 1}
    assert reasons_of(con)[1].startswith(reason)
    assert [row[3] for row in prompts_of(con, "prompt_candidates")] == [ADD_TEXT, "Print 3."]


def test_a_row_of_odd_types_is_quarantined_with_what_it_held(tmp_path: Path, con) -> None:
    # DuckDB hands a MAP over as a dict with keys of its type, which JSON cannot hold.
    sources = [
        SQLSource(query="SELECT 'Print 1.' AS text, MAP {1.5: 'a'} AS tests"),
        SQLSource(query="""SELECT 'Print 2.' AS text, '[{"input": "", "output": "2"}]' AS tests"""),
    ]

    assert load_sources(con, "run", sources, tmp_path) == {"loaded": 1, "quarantined": 1}
    reason, raw = con.execute("SELECT reason, raw FROM quarantine").fetchone()
    assert reason == "row 0: tests: no 'style'"
    assert raw == "{'text': 'Print 1.', 'tests': {Decimal('1.5'): 'a'}}"


def test_the_report_lists_quarantined_rows_by_reason_and_by_line(tmp_path: Path, con) -> None:
    def row(text: str | None, tests: object) -> bytes:
        return json.dumps({"text": text, "tests": tests}).encode()

    flags = {"case_sensitive": "maybe", "float_tolerance": -1}  # two errors: two lines
    lines = [
        row(ADD_TEXT, STDIO),
        b"{oops",
        b"[1]",
        row(None, STDIO),
        row("Pipe.", {"style": "a|b"}),
        row("Flags.", {"style": "stdio", "cases": STDIO, "comparison": flags}),
        b'{"text": "caf\xe9", "tests": []}',
        *(row(f"Print {n}.", STDIO) for n in range(9)),
        row("No cases.", []),
        *(row(ADD_TEXT, STDIO) for _ in range(4)),
    ]
    (tmp_path / "p.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    load_sources(con, "run", [FileSource(kind="jsonl", path="p.jsonl")], tmp_path)
    settle_candidates(con, "run")

    report = build_report(con, "run", [], "", releasing=False)

    assert "## Quarantined rows" in report
    section = report.split("## Quarantined rows\n\n")[1].split("\n## ")[0]
    assert "Source rows quarantined: 11;" in section
    for kind, rows in [
        ("duplicate", 4),
        ("invalid tests", 3),
        ("invalid text", 1),
        ("not a JSON object", 1),
        ("not valid JSON", 1),
        ("not valid UTF-8", 1),
    ]:
        assert f"| {kind} | {rows} |" in section
    assert "| jsonl:p.jsonl | line 17 | tests: stdio tests need a non-empty list 'cases' |" in (
        section
    )
    assert "| jsonl:p.jsonl | line 5 | tests: unknown style 'a\\|b' |" in section
    assert "valid boolean, unable to interpret input<br>" in section
    table = [line for line in section.splitlines() if line.startswith("| jsonl:")]
    assert [line.split(" | ")[1] for line in table] == [
        f"line {n}" for n in [*range(2, 8), 17, 18, 19, 20]
    ]
    assert "and 1 more" in section
