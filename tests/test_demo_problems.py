"""Tests of the demo problem family: reference programs run for real, bugs are caught, the
held-out split holds and drawing is deterministic."""

import json
import random
import string
import subprocess
import sys

import pytest

from tessy_factory.demo.problems import (
    TASK_KINDS,
    TaskKind,
    build_problems,
    draw_problem,
    training_problems,
)

# Runs one program on several stdins inside one fresh isolated interpreter, so each kind costs
# a handful of subprocesses instead of one per input.
_DRIVER = """
import contextlib, io, json, sys
job = json.load(sys.stdin)
outputs = []
for stdin in job["inputs"]:
    sys.stdin = io.StringIO(stdin)
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            exec(job["program"], {"__name__": "__main__"})
    except Exception as error:
        captured.write(f"crashed: {type(error).__name__}")
    outputs.append(captured.getvalue())
json.dump(outputs, sys.__stdout__)
"""
_BUG_SEEDS = range(8)
_KIND_IDS = [kind.name for kind in TASK_KINDS]


def _run(program: str, inputs: list[str]) -> list[str]:
    job = json.dumps({"program": program, "inputs": inputs})
    result = subprocess.run(
        [sys.executable, "-I", "-c", _DRIVER],
        input=job,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def _same(actual: str, expected: str) -> bool:
    return actual.split() == expected.split()


def test_there_are_at_least_24_kinds_with_unique_names():
    names = [kind.name for kind in TASK_KINDS]
    assert len(names) >= 24
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("kind", TASK_KINDS, ids=_KIND_IDS)
def test_reference_solution_matches_the_oracle(kind: TaskKind):
    rng = random.Random(kind.name)
    inputs = [kind.make_input(rng) for _ in range(6)]
    problem = draw_problem(kind, random.Random(3), held_out=True)
    inputs += [stdin for stdin, _ in problem.cases]
    outputs = _run(kind.solution, inputs)
    for stdin, actual in zip(inputs, outputs, strict=True):
        assert _same(actual, kind.solve(stdin)), f"{kind.name} on {stdin!r}: got {actual!r}"


@pytest.mark.parametrize("kind", TASK_KINDS, ids=_KIND_IDS)
def test_every_bug_fails_a_case_of_every_drawn_problem(kind: TaskKind):
    problems = [draw_problem(kind, random.Random(seed), held_out=True) for seed in _BUG_SEEDS]
    inputs = [stdin for problem in problems for stdin, _ in problem.cases]
    expected = [output for problem in problems for _, output in problem.cases]
    for bug in kind.bugs:
        outputs = _run(bug, inputs)
        n = len(problems[0].cases)
        for index, problem in enumerate(problems):
            window = range(index * n, (index + 1) * n)
            caught = any(not _same(outputs[i], expected[i]) for i in window)
            assert caught, f"bug of {kind.name} passes all cases {problem.cases}:\n{bug}"


@pytest.mark.parametrize("kind", TASK_KINDS, ids=_KIND_IDS)
def test_kind_is_short_and_regular(kind: TaskKind):
    assert len(kind.solution.splitlines()) <= 5
    assert "#" not in kind.solution
    assert len(kind.bugs) >= 2
    assert len({kind.solution, *kind.bugs}) == len(kind.bugs) + 1
    assert all(len(bug.splitlines()) == len(kind.solution.splitlines()) for bug in kind.bugs)
    assert 2 <= len(kind.steps) <= 4
    assert len(kind.templates) >= 3
    for template in kind.templates:
        fields = {field for _, field, _, _ in string.Formatter().parse(template) if field}
        # Every statement names a person, so the disjoint name halves separate the splits.
        assert "name" in fields
        assert fields <= {"name", "thing"}


def test_no_statement_template_is_shared_between_kinds():
    templates = [template for kind in TASK_KINDS for template in kind.templates]
    assert len(set(templates)) == len(templates)


@pytest.mark.parametrize("kind", TASK_KINDS, ids=_KIND_IDS)
def test_generated_inputs_are_small_and_newline_terminated(kind: TaskKind):
    rng = random.Random(5)
    for _ in range(50):
        stdin = kind.make_input(rng)
        assert stdin.endswith("\n") and not stdin.endswith("\n\n")
        assert stdin.isascii() and len(stdin) < 80


def test_statements_are_plain_ascii_of_12_to_40_words():
    for problem in training_problems(200, seed=4) + build_problems(200, seed=4):
        assert problem.text.isascii()
        assert "{" not in problem.text
        assert 12 <= len(problem.text.split()) <= 40, problem.text


def test_build_statements_never_appear_in_training():
    training = {problem.text for problem in training_problems(3000, seed=1)}
    for seed in range(3):
        for problem in build_problems(100, seed=seed):
            assert problem.text not in training


@pytest.mark.parametrize("seed", [0, 1, 2026])
def test_build_problems_cover_24_distinct_kinds(seed: int):
    problems = build_problems(24, seed)
    assert len({problem.kind for problem in problems}) == 24


def test_drawn_cases_are_distinct_expected_and_not_constant():
    kinds = {kind.name: kind for kind in TASK_KINDS}
    for problem in build_problems(len(TASK_KINDS) * 4, seed=9):
        kind = kinds[problem.kind]
        inputs = [stdin for stdin, _ in problem.cases]
        assert len(inputs) == 5 and len(set(inputs)) == 5
        assert all(kind.solve(stdin) == output for stdin, output in problem.cases)
        assert len({output for _, output in problem.cases}) > 1
        assert problem.reference == kind.solution


def test_drawing_is_deterministic_per_seed():
    assert build_problems(30, seed=7) == build_problems(30, seed=7)
    assert training_problems(30, seed=7) == training_problems(30, seed=7)
    assert build_problems(30, seed=7) != build_problems(30, seed=8)


def test_bad_counts_are_rejected_by_name():
    with pytest.raises(ValueError, match="count"):
        build_problems(0, seed=1)
    with pytest.raises(ValueError, match="count"):
        training_problems(-1, seed=1)
    with pytest.raises(ValueError, match="n_cases"):
        draw_problem(TASK_KINDS[0], random.Random(0), held_out=False, n_cases=0)
