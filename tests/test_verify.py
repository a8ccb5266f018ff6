"""The verifier runs real programs in real sandboxes: right ones pass, wrong and hostile ones
fail with the right verdict and leave nothing behind. The hostile programs of the issue's list
are in test_sandbox_conformance.py."""

from __future__ import annotations

import dataclasses
import multiprocessing
import time
import tracemalloc
import warnings
from concurrent.futures import ProcessPoolExecutor

import pytest

from tessy_factory.config import VerificationConfig
from tessy_factory.verify.extract import extract_program
from tessy_factory.verify.judge import Judge, Verdict, judge_many, parse_tests
from tessy_factory.verify.languages import Python
from tessy_factory.verify.sandbox import Limits, layer_problem, open_sandbox

LIMITS = {"time_limit_s": 1.0, "memory_mb": 256, "output_limit_bytes": 64 * 1024}
RUN_LIMITS = Limits(**LIMITS)
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


def make_judge(**settings) -> Judge:
    return Judge.from_config(VerificationConfig(**{**LIMITS, **settings}))


JUDGE = make_judge()


def judge(text: str, tests: dict) -> object:
    return JUDGE.judge(text, tests)


def run(code: str, stdin: bytes = b""):
    return JUDGE.sandbox.run(
        ["python3", "-I", "main.py"], {"main.py": code.encode()}, stdin, RUN_LIMITS
    )


def sample(code: str, tag: str = "python") -> str:
    return f"<think>\nLet me think.\n</think>\n\nThe solution:\n```{tag}\n{code}\n```\n"


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
    got = judge(sample("a, b = map(int, input().split())\nprint(a + b, ' ')"), SUM_TESTS)
    assert got.verdict == Verdict.ACCEPTED
    assert (got.tests_passed, got.tests_total) == (3, 3)


def test_wrong_output_counts_the_cases_that_passed() -> None:
    # Right only when the first number is at most 1.
    code = "a, b = map(int, input().split())\nprint(a + b if a <= 1 else 0)"
    first = judge(sample(code), SUM_TESTS)
    assert first.verdict == Verdict.WRONG_ANSWER
    assert (first.tests_passed, first.tests_total) == (1, 3)
    assert first.detail == "case 2: expected '6', got '0\\n'"
    every = make_judge(stop_at_first_failure=False).judge(sample(code), SUM_TESTS)
    assert (every.verdict, every.tests_passed) == (Verdict.WRONG_ANSWER, 2)
    assert every.detail.startswith("case 2:")


def test_infinite_loop_hits_the_time_limit() -> None:
    started = time.monotonic()
    got = judge(sample("while True:\n    pass"), SUM_TESTS)
    assert time.monotonic() - started < 3.0
    assert (got.verdict, got.tests_passed) == (Verdict.TIME_LIMIT, 0)
    assert got.first_failure == 1 and got.cases[0].wall_s >= 1.0


def test_a_program_ignoring_sigxcpu_is_killed_at_the_hard_cpu_limit_with_a_time_limit() -> None:
    # The soft CPU limit (1 s) sends SIGXCPU; ignored, the hard one a second later kills.
    code = "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass"
    got = make_judge(cpu_time_s=1, time_limit_s=20).judge(sample(code), SUM_TESTS)
    assert (got.verdict, got.detail) == (Verdict.TIME_LIMIT, "case 1: used its 1 s of CPU time")
    assert got.cases[0].cpu_s >= 1 and got.cases[0].wall_s < 20


def test_allocating_2_gb_under_256_mb_is_a_memory_limit() -> None:
    got = judge(sample("x = bytearray(2 * 1024**3)\nprint(3)"), SUM_TESTS)
    assert got.verdict == Verdict.MEMORY_LIMIT


@pytest.mark.parametrize(
    ("code", "why"),
    [("raise SystemExit(3)", "exit code 3"), ("print(1 // 0)", "ZeroDivisionError")],
)
def test_failing_program_is_a_runtime_error(code: str, why: str) -> None:
    got = judge(sample(code), SUM_TESTS)
    assert got.verdict == Verdict.RUNTIME_ERROR
    assert why in got.detail


def test_python_syntax_error_is_a_compile_error_found_without_running() -> None:
    got = judge(sample("print('unclosed'\n"), SUM_TESTS)
    assert got.verdict == Verdict.COMPILE_ERROR
    assert got.cases == ()
    assert got.detail.startswith("line 1:")


def test_the_judges_warning_filters_do_not_reach_the_syntax_check() -> None:
    tests = {"style": "stdio", "cases": [{"input": "", "output": "1"}]}
    program = "import re\nprint(len(re.findall('\\d', '3')))"  # an invalid escape: a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert judge(sample(program), tests).verdict == Verdict.ACCEPTED


def test_without_the_syntax_check_a_syntax_error_shows_when_the_program_runs() -> None:
    # What a judge does when the sandbox's Python is another version than its own.
    other_version = dataclasses.replace(JUDGE, language=Python("python3", syntax_check=False))
    got = other_version.judge(sample("print('unclosed'\n"), SUM_TESTS)
    assert got.verdict == Verdict.RUNTIME_ERROR
    assert "SyntaxError" in got.detail


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
    got = judge(text, SUM_TESTS)
    assert (got.verdict, got.tests_passed, got.tests_total) == (Verdict.NO_CODE, 0, 3)


def test_50_mb_of_output_is_cut_off_without_buffering_it() -> None:
    code = "import sys\nfor _ in range(50):\n    sys.stdout.write('x' * 1024 * 1024)"
    tracemalloc.start()
    try:
        result = run(code)
        _, judge_peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.output_limited
    assert len(result.stdout) == RUN_LIMITS.output_limit_bytes
    assert judge_peak_bytes < 2 * 1024 * 1024
    assert judge(sample(code), SUM_TESTS).verdict == Verdict.OUTPUT_LIMIT


def test_each_case_reports_its_time_and_memory() -> None:
    got = judge(sample("a, b = map(int, input().split())\nprint(a + b)"), SUM_TESTS)
    assert [case.case for case in got.cases] == [1, 2, 3]
    for case in got.cases:
        assert case.verdict is Verdict.ACCEPTED
        assert 0 < case.cpu_s <= case.wall_s < 1.0
        assert 1 < case.peak_memory_mb < 100


def test_peak_memory_is_the_programs_own_not_the_judges() -> None:
    ballast = bytearray(300 * 1024 * 1024)
    ballast[::4096] = b"x" * (len(ballast) // 4096)  # make the judge's memory resident
    small = run("print(1)")
    large = run("x = bytearray(100 * 1024**2)\nx[::4096] = b'x' * 25600")
    del ballast
    assert small.peak_memory_mb < 50
    assert 100 < large.peak_memory_mb < 200


def test_a_python_that_cannot_start_is_named_and_never_blamed_on_a_sample() -> None:
    with pytest.raises(ValueError, match=r"verification\.python '/nonexistent/python3' cannot run"):
        make_judge(python="/nonexistent/python3")
    # One that goes away during a build is the judge's fault.
    gone = dataclasses.replace(JUDGE, language=Python("/nonexistent/python3"))
    got = gone.judge(sample("print(3)"), SUM_TESTS)
    assert got.verdict == Verdict.SANDBOX_ERROR
    assert "could not run the program" in got.detail and "/nonexistent/python3" in got.detail


def test_an_unknown_or_unavailable_sandbox_is_refused_by_name(monkeypatch) -> None:
    with pytest.raises(ValueError, match="sandbox"):
        VerificationConfig(sandbox="docker")
    monkeypatch.setenv("PATH", "/nonexistent")
    layer_problem.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="bwrap is not installed") as raised:
            open_sandbox("bubblewrap")
        assert "verification.sandbox" not in str(raised.value)
    finally:
        monkeypatch.undo()
        layer_problem.cache_clear()


# --- C++ ------------------------------------------------------------------------------------

CPP = make_judge(language="cpp")
CPP_SUM = (
    "#include <iostream>\n"
    "int main() { long a, b; std::cin >> a >> b; std::cout << a + b << '\\n'; }"
)


def test_cpp_is_compiled_once_and_run_per_case() -> None:
    got = CPP.judge(sample(CPP_SUM, "cpp"), SUM_TESTS)
    assert (got.verdict, got.tests_passed, got.tests_total) == (Verdict.ACCEPTED, 3, 3)
    # A python block is not the target language: no code.
    assert CPP.judge(sample("print(3)"), SUM_TESTS).verdict == Verdict.NO_CODE


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        ("int main( {", Verdict.COMPILE_ERROR),
        ("#include <iostream>\nint main() { std::cout << 3; }", Verdict.WRONG_ANSWER),
        ("int main() { for (;;) {} }", Verdict.TIME_LIMIT),
        (
            "#include <vector>\nint main() { std::vector<char> v(1ULL << 34); return v[9]; }",
            Verdict.MEMORY_LIMIT,
        ),
        ("int main() { int *p = nullptr; return *p; }", Verdict.RUNTIME_ERROR),
    ],
    ids=["compile", "wrong", "loop", "memory", "segfault"],
)
def test_cpp_failures_get_their_verdicts(code: str, verdict: Verdict) -> None:
    got = CPP.judge(sample(code, "c++"), SUM_TESTS)
    assert got.verdict == verdict
    if verdict is Verdict.COMPILE_ERROR:
        assert "error" in got.detail and got.cases == ()


def test_a_compiler_that_cannot_run_is_the_judges_fault() -> None:
    got = make_judge(language="cpp", cxx="/nonexistent/g++").judge(
        sample(CPP_SUM, "cpp"), SUM_TESTS
    )
    assert got.verdict == Verdict.SANDBOX_ERROR
    assert "'/nonexistent/g++' cannot run" in got.detail


def test_a_binary_larger_than_the_scratch_space_still_runs() -> None:
    four_mb_of_data = 'asm(".section .rodata\\n.fill 4194304,1,7\\n.text");\n'
    small_scratch = make_judge(language="cpp", scratch_mb=1)
    got = small_scratch.judge(sample(four_mb_of_data + CPP_SUM, "cpp"), SUM_TESTS)
    assert (got.verdict, got.tests_passed) == (Verdict.ACCEPTED, 3)


# --- output comparison (its rules: test_compare.py) -----------------------------------------


THIRD = {"style": "stdio", "cases": [{"input": "", "output": "0.333333"}]}


def test_a_problems_own_comparison_flags_judge_its_output() -> None:
    code = sample("print(1 / 3)")
    assert JUDGE.judge(code, THIRD).verdict == Verdict.WRONG_ANSWER
    tolerant = {**THIRD, "comparison": {"float_tolerance": 1e-6}}
    assert JUDGE.judge(code, tolerant).verdict == Verdict.ACCEPTED
    shouting = sample("print('YES')")
    yes = {"style": "stdio", "cases": [{"input": "", "output": "Yes\n"}]}
    assert JUDGE.judge(shouting, yes).verdict == Verdict.ACCEPTED
    strict = {**yes, "comparison": {"case_sensitive": True}}
    assert JUDGE.judge(shouting, strict).verdict == Verdict.WRONG_ANSWER


def test_a_problems_flags_win_over_the_builds() -> None:
    code = sample("print(1 / 3)")
    lenient = make_judge(comparison={"float_tolerance": 1e-2})
    assert lenient.judge(code, THIRD).verdict == Verdict.ACCEPTED
    exacting = {**THIRD, "comparison": {"float_tolerance": 1e-9}}
    assert lenient.judge(code, exacting).verdict == Verdict.WRONG_ANSWER


def test_output_is_compared_as_bytes_not_as_decoded_text() -> None:
    # Decoded with replacement, the byte 0xff would read as U+FFFD, the expected output.
    code = sample("import sys\nsys.stdout.buffer.write(b'\\xff')")
    got = JUDGE.judge(code, {"style": "stdio", "cases": [{"input": "", "output": "\ufffd"}]})
    assert (got.verdict, got.detail) == (Verdict.WRONG_ANSWER, "expected '\ufffd', got '\\\\xff'")


# --- assert-style tests, bad tests, batches -----------------------------------------------


def test_assert_style_passes_and_fails() -> None:
    right = judge(sample("def inc(x):\n    return x + 1"), INC_TESTS)
    assert (right.verdict, right.tests_passed, right.tests_total) == (Verdict.ACCEPTED, 1, 1)
    wrong = judge(sample("def inc(x):\n    return x + 2"), INC_TESTS)
    assert (wrong.verdict, wrong.tests_passed) == (Verdict.WRONG_ANSWER, 0)
    early_exit = "import sys\ndef inc(x):\n    return x\nsys.exit(0)"
    skipped = judge(sample(early_exit), INC_TESTS)
    assert (skipped.verdict, skipped.tests_passed) == (Verdict.WRONG_ANSWER, 0)
    missing = judge(sample("def dec(x):\n    return x - 1"), INC_TESTS)
    assert missing.verdict == Verdict.RUNTIME_ERROR
    assert "NameError" in missing.detail


@pytest.mark.parametrize(
    ("tests", "problem"),
    [
        ({"style": "csv", "cases": []}, "unknown style 'csv'"),
        ({"style": "stdio", "cases": []}, "need a non-empty list 'cases'"),
        ({"style": "stdio", "cases": [{"input": "1"}]}, "case 1 has no 'output'"),
        ({"style": "assert", "entry_point": "f", "code": "def check(:"}, "does not compile"),
        ({"style": "assert", "entry_point": "f()", "code": "pass"}, "entry_point"),
        ({"style": "assert", "entry_point": "class", "code": "pass"}, "is a Python keyword"),
    ],
)
def test_bad_tests_are_named_and_never_blamed_on_the_sample(tests: dict, problem: str) -> None:
    with pytest.raises(ValueError, match="tests: ") as raised:
        parse_tests(tests)
    assert problem in str(raised.value)
    # The judge cannot judge against them: its own failure, not the sample's.
    judgement = judge(sample("print(3)"), tests)
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
    got = [j.verdict for j in judge_many(JUDGE, items, workers=0)]
    assert got == [Verdict.ACCEPTED, Verdict.NO_CODE, Verdict.WRONG_ANSWER, Verdict.ACCEPTED]


def test_an_assert_pass_cannot_be_forged_from_the_programs_own_file() -> None:
    # The program reads its own source for the success marker, prints it and leaves.
    forger = (
        "import re, sys\ndef inc(x):\n    return x\n"
        "found = re.findall(r'check passed [0-9a-f]{16}', open(__file__).read())\n"
        "if found:\n    print(found[0])\n    sys.exit(0)\n"
    )
    got = judge(sample(forger), INC_TESTS)
    assert got.verdict == Verdict.WRONG_ANSWER


def test_an_assert_pass_cannot_be_forged_by_echoing_stdin() -> None:
    echo = "import sys\ndef inc(x):\n    return x\nprint(sys.stdin.readline().strip())\nsys.exit(0)"
    assert judge(sample(echo), INC_TESTS).verdict == Verdict.WRONG_ANSWER


def test_a_main_block_stays_inert_under_assert_tests_as_in_humaneval() -> None:
    # HumanEval's harness runs the program as a module, not as __main__: a demo main that
    # reads stdin must neither run nor fail the sample.
    program = (
        "def inc(x):\n    return x + 1\n\nif __name__ == '__main__':\n    print(inc(int(input())))"
    )
    assert judge(sample(program), INC_TESTS).verdict == Verdict.ACCEPTED


def test_a_clean_exit_stands_whatever_the_program_wrote_on_stderr() -> None:
    program = (
        "import sys\nprint(3)\nprint('[Errno 27] File too large', file=sys.stderr)\n"
        "print('MemoryError', file=sys.stderr)"
    )
    tests = {"style": "stdio", "cases": [{"input": "", "output": "3"}]}
    assert judge(sample(program), tests).verdict == Verdict.ACCEPTED


def test_a_lone_surrogate_is_a_compile_error_not_the_judges_fault() -> None:
    assert judge(sample("print('\ud800')"), SUM_TESTS).verdict == Verdict.COMPILE_ERROR
    got = CPP.judge(sample("int main() { return '\ud800'; }", "cpp"), SUM_TESTS)
    assert got.verdict == Verdict.COMPILE_ERROR


def _judge_elsewhere(judge_and_item: tuple) -> str:
    judge, (text, tests) = judge_and_item
    return judge.judge(text, tests).verdict.value


def test_a_judge_travels_to_other_worker_processes() -> None:
    # What a Dask or Ray task runner does with it: pickle it and judge in another process.
    items = [(sample("a, b = map(int, input().split())\nprint(a + b)"), SUM_TESTS)] * 2
    items += [(sample("print(0)"), SUM_TESTS)]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        got = list(pool.map(_judge_elsewhere, [(JUDGE, item) for item in items]))
    assert got == ["accepted", "accepted", "wrong_answer"]
