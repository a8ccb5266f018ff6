"""The check of each prompt's own tests, on the real sandbox: a prompt the judge fails on is
`unchecked`, with the reason, left out unless the config includes it, and counted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tasks.generation import run_generation
from tasks.runs import open_run
from tasks.sourcing import load_prompts, settle_prompts
from tasks.verification import check_tests
from tessy_factory.config import BuildConfig
from tessy_factory.curate.funnel import funnel
from tessy_factory.db import connect
from tessy_factory.home import FactoryHome
from tessy_factory.report import build_report

SUM_TEXT = "Read two integers and print their sum."
PRODUCT_TEXT = "Read two integers and print their product."


def prompts_file(path: Path, python: Path) -> None:
    """Two good prompts. Checking the first one's reference removes the judge's Python (the
    unsafe sandbox does not stop it), so the judge cannot start the second one's programs:
    a sandbox error mid-way through the check, as when an interpreter is upgraded away."""
    first = {
        "text": SUM_TEXT,
        "tests": [{"input": "1 2\n", "output": "3\n"}],
        "reference": f"import os\nos.unlink({str(python)!r})\n"
        "print(sum(map(int, input().split())))",
    }
    second = {
        "text": PRODUCT_TEXT,
        "tests": [{"input": "2 3\n", "output": "6\n"}],
        "reference": "a, b = map(int, input().split())\nprint(a * b)",
    }
    path.write_text(f"{json.dumps(first)}\n{json.dumps(second)}\n")


def build(home: FactoryHome, include_unchecked: bool) -> BuildConfig:
    return BuildConfig.model_validate(
        {
            "home": str(home.root),
            "sources": [{"kind": "jsonl", "path": "prompts.jsonl", "license": "MIT"}],
            # One short attempt per prompt: what counts is which prompts get a sample.
            "generation": {"modes": ["student-only"], "max_total_tokens": 16, "max_attempts": 1},
            "verification": {"sandbox": "unsafe", "python": str(python_link(home))},
            "curation": {"include_unchecked_prompts": include_unchecked},
        }
    )


def python_link(home: FactoryHome) -> Path:
    return home.root / "python3"


def restore_python(home: FactoryHome) -> None:
    python_link(home).unlink(missing_ok=True)
    python_link(home).symlink_to(Path(sys.executable).resolve())


@pytest.fixture
def home(tmp_path, models_root) -> FactoryHome:
    root = tmp_path / "home"
    root.mkdir()
    (root / "models").symlink_to(models_root, target_is_directory=True)
    home = FactoryHome.resolve(str(root))
    prompts_file(root / "prompts.jsonl", python_link(home))
    restore_python(home)
    return home


def run_until_generation(run_id: str, config: BuildConfig, home: FactoryHome) -> dict:
    open_run(run_id, config, home, sources={})
    load_prompts(run_id, config.sources, home, home.root)
    counts = check_tests(run_id, config.verification, home)
    settle_prompts(run_id, home)
    run_generation(run_id, config, home)
    return counts


def generated_prompts(home: FactoryHome, run_id: str) -> set[str]:
    with connect(home.database) as con:
        rows = con.execute(
            "SELECT p.text FROM generations JOIN prompts AS p USING (run_id, prompt_id)"
            " WHERE run_id = ?",
            [run_id],
        ).fetchall()
    return {text for (text,) in rows}


def checks(home: FactoryHome, run_id: str) -> list[tuple]:
    with connect(home.database) as con:
        return con.execute(
            "SELECT p.text, c.status, c.reason FROM prompt_checks AS c"
            " JOIN prompts AS p USING (run_id, prompt_id) WHERE run_id = ?"
            " ORDER BY p.source_row",
            [run_id],
        ).fetchall()


def test_a_prompt_the_judge_fails_on_is_unchecked_left_out_and_counted(home, prefect_harness):
    config = build(home, include_unchecked=False)

    counts = run_until_generation("unchecked-1", config, home)

    assert counts == {"ok": 1, "excluded": 0, "unchecked": 1}
    first, second = checks(home, "unchecked-1")
    assert first == (SUM_TEXT, "ok", None)
    text, status, reason = second
    assert (text, status) == (PRODUCT_TEXT, "unchecked")
    assert reason.startswith("the judge failed: could not run the program: cannot run ")
    assert str(python_link(home)) in reason and "No such file or directory" in reason
    assert generated_prompts(home, "unchecked-1") == {SUM_TEXT}
    with connect(home.database) as con:
        funnel_counts = funnel(con, "unchecked-1")
        report = build_report(con, "unchecked-1", [], "", releasing=False)
    assert funnel_counts["tests_unchecked"] == 1 and funnel_counts["tests_excluded"] == 0
    assert list(funnel_counts)[2:4] == ["tests_excluded", "tests_unchecked"]
    assert "| tests unchecked | 1 |" in report
    # Named by its line, as a quarantine reason would name it (not by its 0-based row).
    assert f"- jsonl:prompts.jsonl line 2: {reason}" in report

    # With its Python back, a re-run checks the unchecked prompt again, and generates for it.
    restore_python(home)
    assert run_until_generation("unchecked-1", config, home) == {
        "ok": 1,
        "excluded": 0,
        "unchecked": 0,
    }
    assert checks(home, "unchecked-1")[1] == (PRODUCT_TEXT, "ok", None)
    assert generated_prompts(home, "unchecked-1") == {SUM_TEXT, PRODUCT_TEXT}
    with connect(home.database) as con:
        assert funnel(con, "unchecked-1")["tests_unchecked"] == 0


def test_the_config_can_include_unchecked_prompts(home, prefect_harness):
    config = build(home, include_unchecked=True)

    run_until_generation("unchecked-2", config, home)

    assert [status for _, status, _ in checks(home, "unchecked-2")] == ["ok", "unchecked"]
    assert generated_prompts(home, "unchecked-2") == {SUM_TEXT, PRODUCT_TEXT}
    with connect(home.database) as con:
        assert funnel(con, "unchecked-2")["tests_unchecked"] == 1


SUM = "print(sum(map(int, input().split())))"
PRODUCT = "a, b = map(int, input().split())\nprint(a * b)"


def check_prompts(run_id: str, config: BuildConfig, home: FactoryHome) -> dict:
    """The build's steps before generation: load, check the tests, settle the prompts."""
    load_prompts(run_id, config.sources, home, home.root)
    counts = check_tests(run_id, config.verification, home)
    settle_prompts(run_id, home)
    return counts


def test_a_duplicate_whose_tests_pass_wins_over_an_earlier_one_whose_tests_fail(
    tmp_path, prefect_harness
):
    home = FactoryHome.resolve(str(tmp_path / "home"))
    rows = [
        {"text": SUM_TEXT, "tests": [{"input": "1 2\n", "output": "4\n"}], "reference": SUM},
        {"text": SUM_TEXT, "tests": [{"input": "1 2\n", "output": "3\n"}], "reference": SUM},
        {"text": SUM_TEXT + "  ", "tests": [{"input": "2 2\n", "output": "4\n"}]},
        {
            "text": PRODUCT_TEXT,
            "tests": [{"input": "2 3\n", "output": "5\n"}],
            "reference": PRODUCT,
        },
    ]
    (home.root / "prompts.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n")
    config = BuildConfig.model_validate(
        {
            "home": str(home.root),
            "sources": [{"kind": "jsonl", "path": "prompts.jsonl"}],
            "verification": {"sandbox": "unsafe", "python": sys.executable},
        }
    )
    open_run("dup-1", config, home, sources={})

    # The third row is never checked: the second, the same text, passed before it.
    assert check_prompts("dup-1", config, home) == {"ok": 1, "excluded": 2, "unchecked": 0}

    wrong = "its reference solution fails its tests (wrong_answer: "
    sum_check, product_check = checks(home, "dup-1")
    assert sum_check == (SUM_TEXT, "ok", None)
    assert product_check[:2] == (PRODUCT_TEXT, "excluded") and product_check[2].startswith(wrong)
    with connect(home.database) as con:
        prompt_rows = con.execute(
            "SELECT text, source_row FROM prompts WHERE run_id = 'dup-1' ORDER BY source_row"
        ).fetchall()
        reasons = con.execute(
            "SELECT reason FROM quarantine WHERE run_id = 'dup-1' ORDER BY source_row"
        ).fetchall()
        funnel_counts = funnel(con, "dup-1")
        report = build_report(con, "dup-1", [], "", releasing=False)
    assert prompt_rows == [(SUM_TEXT, 1), (PRODUCT_TEXT, 3)]
    first, third = (reason for (reason,) in reasons)
    label = "jsonl:prompts.jsonl"
    assert first.startswith(
        f"line 1: duplicate of {label} line 2 (same prompt_id); its own tests were excluded: "
        + wrong
    )
    assert third == f"line 3: duplicate of {label} line 2 (same prompt_id)"
    assert (funnel_counts["prompts_in"], funnel_counts["quarantined"]) == (4, 2)
    assert (funnel_counts["tests_excluded"], funnel_counts["tests_unchecked"]) == (1, 0)
    # The report names the excluded prompt by the line the quarantine reasons would use.
    assert f"- {label} line 4: {wrong}" in report

    # Resuming the run checks nothing again and changes no count.
    assert check_prompts("dup-1", config, home) == {"ok": 0, "excluded": 0, "unchecked": 0}
    with connect(home.database) as con:
        assert funnel(con, "dup-1") == funnel_counts
