"""The two writing styles of the miniature world, with style spans known by construction.

The teacher writes terse analytic reasoning joined by its own connectives and always
correct code; the student writes the same reasoning steps wrapped in hesitant filler and
often buggy code, and copies its thinking's code into its answer. Each style borrows the
other's phrases in a minority of traces, as real models know many phrasings but prefer
their own: without that, neither model can continue a text the other began.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from tessy_factory.demo.problems import DemoProblem, TaskKind

STUDENT_OPENERS = ("Okay, let's see.", "Alright, so.")
STUDENT_FILLERS = ("Hmm,", "Wait,", "I think", "Let me think.", "Oh right,", "So, um,")
STUDENT_CODE_LEAD = "Let me write the code."
STUDENT_CLOSER = "That should work, I guess."
STUDENT_ANSWER_LEAD = "Here is my code:"
# The phrases whose rate measures how student-like a trace reads.
STUDENT_PHRASES = (*STUDENT_OPENERS, *STUDENT_FILLERS, STUDENT_CODE_LEAD, STUDENT_CLOSER)

TEACHER_OPENERS = ("Approach:", "Plan:")
TEACHER_CONNECTIVES = ("Next:", "Then:", "After that:")
TEACHER_CODE_LEAD = "Code:"
TEACHER_CHECKS = ("Check:", "Verify:")
TEACHER_CHECK_FACTS = (
    "the input format is respected.",
    "the output has one line.",
    "it runs in linear time.",
)
TEACHER_ANSWER_LEAD = "Solution:"
TEACHER_PHRASES = (*TEACHER_OPENERS, *TEACHER_CONNECTIVES, TEACHER_CODE_LEAD, *TEACHER_CHECKS)

# How often a trace mixes in the other style, and how many of its style slots it swaps then.
BORROW_RATE = 0.15
BORROW_SHARE = 0.6
# How often the student's code is the correct one.
STUDENT_CORRECT_RATE = 0.4


@dataclass(frozen=True)
class Segment:
    """A piece of thinking text and whether it is style (filler) or capability."""

    text: str
    style: bool


@dataclass(frozen=True)
class Trace:
    """One written solution: thinking segments and the final answer."""

    prompt: str
    segments: tuple[Segment, ...]
    answer: str
    code_correct: bool

    @property
    def thinking(self) -> str:
        return "".join(segment.text for segment in self.segments)

    @property
    def completion(self) -> str:
        """The assistant turn in the student's format."""
        return f"<think>\n{self.thinking}\n</think>\n\n{self.answer}"

    def style_spans(self) -> list[tuple[int, int]]:
        """Character spans of style text within `thinking`."""
        spans, start = [], 0
        for segment in self.segments:
            end = start + len(segment.text)
            if segment.style:
                spans.append((start + _leading_space(segment.text), end))
            start = end
        return spans


def _leading_space(text: str) -> int:
    return len(text) - len(text.lstrip())


def _code_block(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


class _Writer:
    """Accumulates segments, putting one space or newline between them."""

    def __init__(self) -> None:
        self.segments: list[Segment] = []

    def add(self, text: str, *, style: bool, newline: bool = False) -> None:
        if self.segments:
            text = ("\n" if newline else " ") + text
        self.segments.append(Segment(text, style))


def teacher_trace(problem: DemoProblem, kind: TaskKind, rng: random.Random) -> Trace:
    """The teacher's terse trace: connectives, the task's steps, correct code, a check."""
    borrow = _borrowing(rng)
    writer = _Writer()
    for index, step in enumerate(kind.steps):
        own, borrowed = (
            (TEACHER_OPENERS, STUDENT_OPENERS)
            if index == 0
            else (TEACHER_CONNECTIVES, STUDENT_FILLERS)
        )
        writer.add(rng.choice(borrowed if borrow() else own), style=True)
        writer.add(step, style=False)
    writer.add(STUDENT_CODE_LEAD if borrow() else TEACHER_CODE_LEAD, style=True)
    writer.add(_code_block(problem.reference), style=False, newline=True)
    if borrow():
        writer.add(STUDENT_CLOSER, style=True, newline=True)
    else:
        writer.add(rng.choice(TEACHER_CHECKS), style=True, newline=True)
        writer.add(rng.choice(TEACHER_CHECK_FACTS), style=False)
    answer = f"{TEACHER_ANSWER_LEAD}\n{_code_block(problem.reference)}"
    return Trace(problem.text, tuple(writer.segments), answer, code_correct=True)


def student_trace(problem: DemoProblem, kind: TaskKind, rng: random.Random) -> Trace:
    """The student's hesitant trace: filler around the steps, often buggy code, copied."""
    correct = rng.random() < STUDENT_CORRECT_RATE
    code = problem.reference if correct else rng.choice(kind.bugs)
    borrow = _borrowing(rng)
    writer = _Writer()
    writer.add(rng.choice(TEACHER_OPENERS if borrow() else STUDENT_OPENERS), style=True)
    for step in kind.steps:
        if borrow():
            writer.add(rng.choice(TEACHER_CONNECTIVES), style=True)
        elif rng.random() < 0.8:
            writer.add(rng.choice(STUDENT_FILLERS), style=True)
        writer.add(step, style=False)
    writer.add(TEACHER_CODE_LEAD if borrow() else STUDENT_CODE_LEAD, style=True)
    writer.add(_code_block(code), style=False, newline=True)
    writer.add(STUDENT_CLOSER, style=True, newline=True)
    answer = f"{STUDENT_ANSWER_LEAD}\n{_code_block(code)}"
    return Trace(problem.text, tuple(writer.segments), answer, code_correct=correct)


def _borrowing(rng: random.Random) -> Callable[[], bool]:
    """Per style slot, whether it takes the other style's phrase.

    A minority of traces (BORROW_RATE) mix both styles throughout, so each model learns to
    continue after any phrase of the other, as it must inside the cooperative loop.
    """
    mixed = rng.random() < BORROW_RATE
    return lambda: mixed and rng.random() < BORROW_SHARE
