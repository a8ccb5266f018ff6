"""The verifier runs real programs in real subprocesses: right ones pass, wrong and hostile ones
fail with the right verdict and leave nothing behind."""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from pathlib import Path

import pytest

from tessy_factory.verify.extract import extract_program
from tessy_factory.verify.judge import Verdict, judge, judge_many, parse_tests
from tessy_factory.verify.runner import Limits, network_namespace_available, run_program

LIMITS = Limits(time_limit_s=1.0, memory_mb=256, output_limit_bytes=64 * 1024)
SUM_TESTS = {
    "style": "stdio",
    "cases": [
        {"input": "1 2\n", "output": "3\n"},
        {"input": "10 -4\n", "output": "6"},
        {"input": "0 0\n", "output": "0\n"},
    ],
}
INC_TESTS = {
    "style": "assert",
    "entry_point": "inc",
    "code": "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(-1) == 0\n",
}


def sample(code: str, tag: str = "python") -> str:
    return f"<think>\nLet me think.\n</think>\n\nThe solution:\n```{tag}\n{code}\n```\n"


def gone(pid: int, within_s: float = 2.0) -> bool:
    """Whether process `pid` has ended (or is a zombie) within `within_s` seconds."""
    stat = Path(f"/proc/{pid}/stat")
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.02)
    return False


# --- extraction ---------------------------------------------------------------------------


def test_extract_takes_the_last_python_or_untagged_block_of_the_answer() -> None:
    text = (
        "<think>\n```python\ndraft()\n```\n</think>\n\n"
        "```python\nfirst()\n```\n```bash\nls\n```\n```\nlast()\n```\n```js\nno()\n```\n"
    )
    assert extract_program(text) == "last()\n"
    assert extract_program("<think>x</think>```py\nok()\n```") == "ok()\n"


def test_extract_finds_nothing_without_an_answer_block() -> None:
    assert extract_program("```python\nprint(1)\n```") is None  # thinking never ended
    assert extract_program("<think>\n```python\nprint(1)\n```\n</think>\n\nNo code.") is None
    assert extract_program("<think>x</think>\n```bash\nls\n```") is None


# --- judging stdio ------------------------------------------------------------------------


def test_correct_program_is_accepted() -> None:
    got = judge(sample("a, b = map(int, input().split())\nprint(a + b, ' ')"), SUM_TESTS, LIMITS)
    assert got.verdict == Verdict.ACCEPTED
    assert (got.tests_passed, got.tests_total) == (3, 3)


def test_wrong_output_counts_the_cases_that_passed() -> None:
    # Right only when the first number is at most 1.
    code = "a, b = map(int, input().split())\nprint(a + b if a <= 1 else 0)"
    first = judge(sample(code), SUM_TESTS, LIMITS)
    assert first.verdict == Verdict.WRONG_ANSWER
    assert (first.tests_passed, first.tests_total) == (1, 3)
    assert first.detail == "case 2: expected '6', got '0\\n'"
    every = judge(sample(code), SUM_TESTS, LIMITS, stop_at_first_failure=False)
    assert (every.verdict, every.tests_passed) == (Verdict.WRONG_ANSWER, 2)
    assert every.detail.startswith("case 2:")


def test_infinite_loop_hits_the_time_limit_and_is_killed() -> None:
    code = "import os\nprint(os.getpid(), flush=True)\nwhile True:\n    pass"
    started = time.monotonic()
    result = run_program(code, "", LIMITS)
    assert time.monotonic() - started < 3.0
    assert result.timed_out
    assert gone(int(result.stdout))
    got = judge(sample(code), SUM_TESTS, LIMITS)
    assert (got.verdict, got.tests_passed) == (Verdict.TIME_LIMIT, 0)


def test_allocating_2_gb_under_256_mb_is_a_memory_limit() -> None:
    got = judge(sample("x = bytearray(2 * 1024**3)\nprint(3)"), SUM_TESTS, LIMITS)
    assert got.verdict == Verdict.MEMORY_LIMIT


@pytest.mark.parametrize(
    ("code", "why"),
    [("raise SystemExit(3)", "exit code 3"), ("print(1 // 0)", "ZeroDivisionError")],
)
def test_failing_program_is_a_runtime_error(code: str, why: str) -> None:
    got = judge(sample(code), SUM_TESTS, LIMITS)
    assert got.verdict == Verdict.RUNTIME_ERROR
    assert why in got.detail


def test_syntax_error_is_found_without_running() -> None:
    got = judge(sample("print('unclosed'\n"), SUM_TESTS, LIMITS)
    assert got.verdict == Verdict.SYNTAX_ERROR
    assert got.detail.startswith("line 1:")


@pytest.mark.parametrize(
    "text",
    [
        "<think>\nhmm\n</think>\n\nThe answer is 3.",
        "<think>\nhmm, still thinking\n```python\nprint(3)\n```",
        "<think>\n```python\nprint(3)\n```\n</think>\n\nSee above.",
    ],
    ids=["no-block", "no-think-end", "code-only-in-thinking"],
)
def test_missing_code_is_no_code(text: str) -> None:
    got = judge(text, SUM_TESTS, LIMITS)
    assert (got.verdict, got.tests_passed, got.tests_total) == (Verdict.NO_CODE, 0, 3)


def test_50_mb_of_output_is_cut_off_without_buffering_it() -> None:
    code = "import sys\nfor _ in range(50):\n    sys.stdout.write('x' * 1024 * 1024)"
    tracemalloc.start()
    try:
        result = run_program(code, "", LIMITS)
        _, judge_peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.output_limited
    assert len(result.stdout) == LIMITS.output_limit_bytes
    assert judge_peak_bytes < 2 * 1024 * 1024
    assert judge(sample(code), SUM_TESTS, LIMITS).verdict == Verdict.OUTPUT_LIMIT


# --- containment --------------------------------------------------------------------------


def test_secrets_in_the_environment_do_not_reach_the_program(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    result = run_program("import os\nprint(os.environ.get('HF_TOKEN'))", "", LIMITS)
    assert result.stdout == "None\n"


def test_background_grandchild_is_killed() -> None:
    code = "import subprocess\nprint(subprocess.Popen(['sleep', '30']).pid)"
    result = run_program(code, "", LIMITS)
    assert result.exit_code == 0
    assert gone(int(result.stdout))


def test_program_that_kills_its_supervisor_is_still_contained() -> None:
    code = (
        "import os, time\nprint(os.getpid(), flush=True)\nos.kill(os.getppid(), 9)\ntime.sleep(30)"
    )
    result = run_program(code, "", LIMITS)
    assert result.signal == 9
    assert result.peak_memory_mb is None
    assert gone(int(result.stdout))
    assert judge(sample(code), SUM_TESTS, LIMITS).verdict == Verdict.RUNTIME_ERROR


def test_peak_memory_is_the_programs_own_not_the_judges() -> None:
    ballast = bytearray(300 * 1024 * 1024)
    ballast[::4096] = b"x" * (len(ballast) // 4096)  # make the judge's memory resident
    small = run_program("print(1)", "", LIMITS)
    large = run_program("x = bytearray(100 * 1024**2)\nx[::4096] = b'x' * 25600", "", LIMITS)
    del ballast
    assert small.peak_memory_mb < 50
    assert 100 < large.peak_memory_mb < 200


@pytest.mark.skipif(not network_namespace_available(), reason="unshare -n does not work here")
def test_program_sees_only_loopback() -> None:
    result = run_program("import socket\nprint(socket.if_nameindex())", "", LIMITS)
    assert result.stdout == f"{[(1, 'lo')]}\n"


def test_failure_to_start_is_a_sandbox_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", "/nonexistent/tessy-scratch")
    got = judge(sample("print(3)"), SUM_TESTS, LIMITS)
    assert got.verdict == Verdict.SANDBOX_ERROR
    assert "could not run the program" in got.detail


# --- assert-style tests, bad tests, batches -----------------------------------------------


def test_assert_style_passes_and_fails() -> None:
    right = judge(sample("def inc(x):\n    return x + 1"), INC_TESTS, LIMITS)
    assert (right.verdict, right.tests_passed, right.tests_total) == (Verdict.ACCEPTED, 1, 1)
    wrong = judge(sample("def inc(x):\n    return x + 2"), INC_TESTS, LIMITS)
    assert (wrong.verdict, wrong.tests_passed) == (Verdict.WRONG_ANSWER, 0)
    early_exit = "import sys\ndef inc(x):\n    return x\nsys.exit(0)"
    skipped = judge(sample(early_exit), INC_TESTS, LIMITS)
    assert (skipped.verdict, skipped.tests_passed) == (Verdict.WRONG_ANSWER, 0)
    missing = judge(sample("def dec(x):\n    return x - 1"), INC_TESTS, LIMITS)
    assert missing.verdict == Verdict.RUNTIME_ERROR
    assert "NameError" in missing.detail


@pytest.mark.parametrize(
    ("tests", "problem"),
    [
        ({"style": "csv", "cases": []}, "does not match any of the expected tags"),
        ({"style": "stdio", "cases": []}, "cases: List should have at least 1 item"),
        ({"style": "stdio", "cases": [{"input": "1"}]}, "cases.0.output: Field required"),
        ({"style": "assert", "entry_point": "f", "code": "def check(:"}, "does not compile"),
        ({"style": "assert", "entry_point": "f()", "code": "pass"}, "entry_point"),
    ],
)
def test_bad_tests_are_named_and_never_blamed_on_the_sample(tests: dict, problem: str) -> None:
    with pytest.raises(ValueError, match="tests: ") as raised:
        parse_tests(tests)
    assert problem in str(raised.value)
    # The judge cannot judge against them: its own failure, not the sample's.
    judgement = judge(sample("print(3)"), tests, LIMITS)
    assert judgement.verdict == Verdict.SANDBOX_ERROR
    assert problem in judgement.detail


def test_judge_many_keeps_the_order_of_its_input() -> None:
    right = sample("a, b = map(int, input().split())\nprint(a + b)")
    items = [
        (right, SUM_TESTS),
        ("<think></think>no code", SUM_TESTS),
        (sample("print(0)"), SUM_TESTS),
        (sample("def inc(x):\n    return x + 1"), INC_TESTS),
    ]
    got = [j.verdict for j in judge_many(items, LIMITS, workers=0)]
    assert got == [Verdict.ACCEPTED, Verdict.NO_CODE, Verdict.WRONG_ANSWER, Verdict.ACCEPTED]
