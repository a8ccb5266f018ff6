"""Test-suite sanity: a problem's tests must reject an empty program and accept the problem's
own reference solution, or no verdict against them means anything."""

from __future__ import annotations

from tessy_factory.verify.judge import Judge, Verdict, parse_tests


class JudgeFailed(RuntimeError):
    """The judge itself failed while checking a problem; the problem is not to blame."""


def problem_with_tests(judge: Judge, tests: dict, reference: str | None) -> str | None:
    """Why the problem's tests cannot be trusted, or None when they pass the check.

    Raises JudgeFailed when the sandbox failed, so the problem can be checked again later.
    """
    try:
        parse_tests(tests)
    except ValueError as exc:
        return f"unusable tests: {exc}"
    empty = _judged(judge, "", tests)
    if empty.verdict is Verdict.ACCEPTED:
        return "its tests accept an empty program"
    if reference is not None:
        judged = _judged(judge, reference, tests)
        if judged.verdict is not Verdict.ACCEPTED:
            return f"its reference solution fails its tests ({judged.verdict}: {judged.detail})"
    return None


def _judged(judge: Judge, program: str, tests: dict):
    judgement = judge.judge_program(program, tests)
    if judgement.verdict is Verdict.SANDBOX_ERROR:
        raise JudgeFailed(judgement.detail)
    return judgement
