"""Assert-style verdicts cannot be forged: each hostile program below tries one way that
in-process Python has to read or fake the checker's state, in the real sandboxes, and must get
wrong_answer or runtime_error. Its function is wrong, so only a forgery could pass.

Every forger looks for the success marker wherever its technique reaches and, if it finds
one, prints the line that would pass, writes it to every fd it has, and exits at once."""

from __future__ import annotations

import os

import pytest

from tessy_factory.config import VerificationConfig
from tessy_factory.verify.judge import Judge, Verdict
from tessy_factory.verify.sandbox import layer_problem

INC_TESTS = {
    "style": "assert",
    "entry_point": "inc",
    "code": "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(-1) == 0\n",
}
# The forged line for both protocols this repository has had: the old runner's bare marker,
# and the checker's marker followed by its verdict.
FORGER = """
import json, os, re, sys

MARKER = re.compile(r"check (passed )?[0-9a-f]{16,32}")


def forge(text):
    found = MARKER.search(str(text))
    if found is None:
        return
    line = found.group(0)
    if not found.group(1):
        line += " " + json.dumps({"verdict": "accepted", "detail": "check passed"})
    for fd in range(256):
        try:
            os.write(fd, (line + "\\n").encode())
        except OSError:
            pass
    print(line, flush=True)
    os._exit(0)


def walk(frame):
    while frame is not None:
        forge(repr(frame.f_locals))
        forge(repr(frame.f_globals))
        frame = frame.f_back
"""
ATTACKS = {
    "frames at import": "walk(sys._getframe())\ndef inc(x):\n    return x\n",
    "frames during the call": "def inc(x):\n    walk(sys._getframe())\n    return x\n",
    "gc": (
        "import gc\ndef inc(x):\n    for o in gc.get_objects():\n"
        "        if isinstance(o, (dict, list, tuple)):\n            forge(repr(o))\n    return x\n"
    ),
    "tracebacks": (
        "def inc(x):\n    try:\n        raise ValueError\n    except ValueError as exc:\n"
        "        walk(exc.__traceback__.tb_frame)\n    return x\n"
    ),
    "sys.modules": (
        "def inc(x):\n    for module in list(sys.modules.values()):\n"
        "        forge(repr(vars(module)))\n    return x\n"
    ),
    "stdin and os._exit": "forge(sys.stdin.read())\nprint('check passed')\nos._exit(0)\n",
    "the checker's memory, fds and stdin through /proc": (
        "def peek(pid):\n"
        "    for name in ('environ', 'cmdline', 'fd/0', 'fd/1'):\n"
        "        try:\n            forge(open(f'/proc/{pid}/{name}', 'rb').read())\n"
        "        except OSError:\n            pass\n"
        "    try:\n        maps = open(f'/proc/{pid}/maps').read().splitlines()\n"
        "        mem = open(f'/proc/{pid}/mem', 'rb')\n"
        "    except OSError:\n        return\n"
        "    for row in maps:\n"
        "        low, high = (int(a, 16) for a in row.split()[0].split('-'))\n"
        "        try:\n            mem.seek(low)\n            forge(mem.read(high - low))\n"
        "        except (OSError, OverflowError, ValueError):\n            pass\n"
        "def inc(x):\n    peek(os.getppid())\n    peek(1)\n    return x\n"
    ),
    "an answer equal to everything": (
        "class Yes:\n    def __eq__(self, other):\n        return True\n"
        "def inc(x):\n    return Yes()\n"
    ),
    "an int equal to everything": (
        "class Yes(int):\n    def __eq__(self, other):\n        return True\n"
        "def inc(x):\n    return Yes(x)\n"
    ),
    "patched builtins": (
        "import builtins\nbuiltins.AssertionError = SystemExit\n"
        "builtins.print = lambda *a, **k: None\ndef inc(x):\n    return x\n"
    ),
    "killing the checker": "def inc(x):\n    os.kill(os.getppid(), 9)\n    return x\n",
}


def layers() -> list[str]:
    return [name for name in ("bubblewrap", "unshare") if layer_problem(name) is None]


@pytest.fixture(scope="module", params=layers())
def judge(request: pytest.FixtureRequest) -> Judge:
    config = VerificationConfig(sandbox=request.param, time_limit_s=5.0, memory_mb=512)
    return Judge.from_config(config)


def answer(code: str) -> str:
    return f"<think>\nok\n</think>\n\n```python\n{code}\n```\n"


def assert_tests(entry_point: str, check_body: str, **prelude: str) -> dict:
    """Assert-style tests whose `check(candidate)` has `check_body` (indented by 4)."""
    code = "def check(candidate):\n" + check_body
    return {"style": "assert", "entry_point": entry_point, "code": code, **prelude}


# What each forger's verdict says when it found nothing to forge with: a forger that finds
# the marker exits at once, and its verdict would say "exited before the check finished".
FOUND_NOTHING = {
    "stdin and os._exit": "exited before the check finished",  # it exits whatever it found
    "an answer equal to everything": "TypeError: a value of type Yes cannot cross",
    "killing the checker": "killed by",
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_forger_never_gets_accepted(judge: Judge, attack: str) -> None:
    got = judge.judge(answer(FORGER + ATTACKS[attack]), INC_TESTS)
    assert got.verdict in (Verdict.WRONG_ANSWER, Verdict.RUNTIME_ERROR), got.detail
    assert FOUND_NOTHING.get(attack, "AssertionError") in got.detail


def test_the_forgers_are_real_the_same_program_with_a_right_function_passes(judge: Judge) -> None:
    # Each attack runs and finds nothing; with inc right, the tests pass around it.
    for attack, code in ATTACKS.items():
        if attack.startswith(("an answer", "an int", "killing", "stdin")):
            continue
        right = code.replace("return x\n", "return x + 1\n")
        got = judge.judge(answer(FORGER + right), INC_TESTS)
        assert got.verdict is Verdict.ACCEPTED, (attack, got.detail)


def test_a_program_cannot_shadow_a_builtin_the_tests_use(judge: Judge) -> None:
    tests = {
        "style": "assert",
        "entry_point": "half",
        "code": "def check(candidate):\n    assert abs(candidate(3) - 1.5) < 1e-9\n",
    }
    cheat = "def abs(x):\n    return 0\n\ndef half(x):\n    return 7\n"
    assert judge.judge(answer(cheat), tests).verdict is Verdict.WRONG_ANSWER
    honest = "def half(x):\n    return x / 2\n"
    assert judge.judge(answer(honest), tests).verdict is Verdict.ACCEPTED


def test_the_tests_call_trusted_helpers_and_get_plain_values(judge: Judge) -> None:
    # HumanEval/32's tests call the prompt's `poly`: it comes from the trusted prelude, and
    # values keep their types across the pipes.
    tests = {
        "style": "assert",
        "entry_point": "shape",
        "prelude": "def helper(x):\n    return x * 2\n\ndef shape(xs):\n    'a stub'\n",
        "code": (
            "def check(candidate):\n"
            "    assert helper(2) == 4\n"
            "    got = candidate([1, 2])\n"
            "    assert got == ((1, 2), {1: {2}}, b'x', 1.5, None, True, frozenset([3]), 2j)\n"
            "    assert type(got[0]) is tuple and type(got[5]) is bool\n"
            "    assert shape([10**5000])[0][0] == 10**5000\n"
            "    try:\n        candidate(None)\n    except KeyError as exc:\n"
            "        assert 'missing' in str(exc)\n"
            "    else:\n        raise AssertionError('no KeyError')\n"
        ),
    }
    program = (
        "def shape(xs):\n    if xs is None:\n        raise KeyError('missing')\n"
        "    return (tuple(xs), {1: {2}}, b'x', 1.5, None, True, frozenset([3]), 2j)\n"
    )
    got = judge.judge(answer(program), tests)
    assert got.verdict is Verdict.ACCEPTED, got.detail


def test_a_program_cannot_judge_itself_with_its_own_helper(judge: Judge) -> None:
    # HumanEval/32: the tests check find_zero's answer with the prompt's poly.
    tests = assert_tests(
        "find_zero",
        "    assert abs(poly([-2, 1], candidate([-2, 1]))) < 1e-6\n",
        prelude="def poly(xs, x):\n    return sum(c * x**i for i, c in enumerate(xs))\n",
    )
    cheat = "def poly(xs, x):\n    return 0\n\ndef find_zero(xs):\n    return 123.0\n"
    assert judge.judge(answer(cheat), tests).verdict is Verdict.WRONG_ANSWER
    honest = "def find_zero(xs):\n    return -xs[0] / xs[1]\n"
    assert judge.judge(answer(honest), tests).verdict is Verdict.ACCEPTED


@pytest.mark.parametrize(
    ("raised", "caught"),
    [
        ("class Bad(ValueError):\n    pass\n", "ValueError"),
        ("Bad = lambda m: UnicodeDecodeError('utf-8', b'x', 0, 1, m)\n", "UnicodeDecodeError"),
    ],
)
def test_the_programs_exceptions_arrive_as_their_built_in_class(
    judge: Judge, raised: str, caught: str
) -> None:
    tests = assert_tests(
        "f",
        f"    try:\n        candidate()\n    except {caught}:\n        pass\n"
        "    else:\n        assert False\n",
    )
    program = f"{raised}\ndef f():\n    raise Bad('no')\n"
    got = judge.judge(answer(program), tests)
    assert got.verdict is Verdict.ACCEPTED, got.detail


def test_a_stop_iteration_from_the_program_cannot_end_the_tests_loop(judge: Judge) -> None:
    tests = assert_tests("f", "    assert all(map(candidate, [1, 2, 3]))\n")
    got = judge.judge(answer("def f(x):\n    raise StopIteration\n"), tests)
    assert got.verdict is Verdict.RUNTIME_ERROR, got.detail


def test_a_judge_that_cannot_start_the_programs_process_says_it_is_its_fault(
    judge: Judge,
) -> None:
    one = Judge.from_config(VerificationConfig(sandbox=judge.sandbox.name, max_processes=1))
    got = one.judge(answer("def inc(x):\n    return x + 1\n"), INC_TESTS)
    assert got.verdict is Verdict.SANDBOX_ERROR, got.detail
    assert "verification.max_processes" in got.detail


def test_a_long_failure_detail_is_cut_short(judge: Judge) -> None:
    got = judge.judge(answer("def inc(x):\n    raise ValueError('A' * 500000)\n"), INC_TESTS)
    assert got.verdict is Verdict.RUNTIME_ERROR
    assert len(got.detail) < 1000


@pytest.mark.parametrize(
    ("program", "verdict", "detail"),
    [
        ("import sys\nsys.exit(0)\ndef inc(x):\n    return x + 1\n", Verdict.WRONG_ANSWER, ""),
        ("def inc(x):\n    raise SystemExit(3)\n", Verdict.RUNTIME_ERROR, "exited with code 3"),
        ("def inc(x):\n    import os\n    os._exit(0)\n", Verdict.WRONG_ANSWER, "exited before"),
        ("raise ValueError('at import')\n", Verdict.RUNTIME_ERROR, "ValueError: at import"),
        ("def inc(x):\n    return [0] * (1 << 40)\n", Verdict.MEMORY_LIMIT, "MemoryError"),
    ],
)
def test_how_the_program_ends_is_its_verdict(
    judge: Judge, program: str, verdict: Verdict, detail: str
) -> None:
    got = judge.judge(answer(program), INC_TESTS)
    assert got.verdict is verdict, got.detail
    assert detail in got.detail


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a judge running as root")
def test_the_proc_forger_is_real_it_finds_the_marker_where_nothing_drops_root() -> None:
    # The unsafe layer runs programs as the judge's own user: as root, a program reads the
    # checker's memory and finds the marker (it then exits at once). The protection tested
    # above is the sandboxes' dropping of root, with the checker made non-dumpable.
    unsafe = Judge.from_config(VerificationConfig(sandbox="unsafe", time_limit_s=5.0))
    attack = ATTACKS["the checker's memory, fds and stdin through /proc"]
    got = unsafe.judge(answer(FORGER + attack), INC_TESTS)
    assert "exited before the check finished" in got.detail
