"""The two writing styles of the miniature world, with style spans known by construction.

The teacher writes terse analytic reasoning joined by its own connectives and always
correct code; the student writes the same reasoning steps, each after a hesitant filler,
and often buggy code, and copies its thinking's code into its answer. Each style borrows the
other's phrases in a minority of traces, as real models know many phrasings but prefer
their own.

Inside the cooperative loop each model continues text it did not write all of. A strong
model copes with another's phrasing because it has read a great deal of text it would not
write, so some segments of a trace are text its model only *reads* (`Segment.written`
False): they are left out of its LM's loss, and it learns to continue after them without
learning to write them.
- Most teacher traces lay out their style slots as the student does and hold the student's
  phrases there, as the loop's text does around the steps and code the teacher writes.
- Some student traces hold code the student reads, any program of the family, as when the
  teacher wrote the code in the loop. Its answer copies that code all the same: code the
  prompt does not foretell can only be copied, so it learns to copy what its thinking says
  rather than rewrite it from its own priors.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from tessy_factory.demo.problems import TASK_KINDS, DemoProblem, TaskKind

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
# How often a teacher trace lays out its style slots as the student does, and how many of
# them hold the student's phrases, to read. READ_RATE is the demo world's; see `World`.
READ_RATE = 0.7
READ_SHARE = 0.8
# How often the code the student writes is the correct one.
STUDENT_CORRECT_RATE = 0.4
# How often the code in a student trace is one it reads rather than writes, drawn from all
# the family's programs.
STUDENT_READ_RATE = 0.3
PROGRAMS = tuple(code for kind in TASK_KINDS for code in (kind.solution, *kind.bugs))


@dataclass(frozen=True)
class Segment:
    """A piece of thinking text, whether it is style (filler) or capability, and whether the
    trace's own model wrote it (False: another model's text it only reads)."""

    text: str
    style: bool
    written: bool = True


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
        return self._spans(lambda segment: segment.style)

    def read_spans(self) -> list[tuple[int, int]]:
        """Character spans within `thinking` of text the trace's model reads but did not write."""
        return self._spans(lambda segment: not segment.written)

    def _spans(self, keep: Callable[[Segment], bool]) -> list[tuple[int, int]]:
        spans, start = [], 0
        for segment in self.segments:
            end = start + len(segment.text)
            if keep(segment):
                spans.append((start + _leading_space(segment.text), end))
            start = end
        return spans


def _leading_space(text: str) -> int:
    return len(text) - len(text.lstrip())


def _code_block(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


class _Writer:
    """Accumulates segments, putting one space or newline between them.

    A code block's segment ends its last line itself, so the newline after the closing fence
    belongs to the code: it is not another segment's leading whitespace, where it would be
    capability text at the start of the student's next turn, cut as soon as it began.
    """

    def __init__(self) -> None:
        self.segments: list[Segment] = []

    def add(self, text: str, *, style: bool, newline: bool = False, written: bool = True) -> None:
        if self.segments and not self.segments[-1].text.endswith("\n"):
            text = ("\n" if newline else " ") + text
        self.segments.append(Segment(text, style, written))

    def add_code(self, code: str, *, written: bool = True) -> None:
        self.add(_code_block(code) + "\n", style=False, newline=True, written=written)


@dataclass(frozen=True)
class World:
    """A miniature world: how often its teacher's training traces hold the student's
    phrases to read (`read_rate`). The rest is common to every world."""

    name: str
    read_rate: float
    about: str


# The demo's world, where the teacher has read the student's filler in most of its traces,
# and one close to the paper's setting, where a strong teacher has met text in the student's
# style in about 15% of what it read.
WORLDS = {
    "demo": World("demo", READ_RATE, "the teacher reads student filler in 70% of its traces"),
    "paper": World("paper", 0.15, "close to the paper: it does so in 15% of its traces"),
}
DEFAULT_WORLD = "demo"


def teacher_trace(
    problem: DemoProblem, kind: TaskKind, rng: random.Random, *, read_rate: float = READ_RATE
) -> Trace:
    """The teacher's terse trace: connectives, the task's steps, correct code, a check.

    In `read_rate` of the traces the style slots are laid out as the student lays them out
    (a filler after the opener too) and most (READ_SHARE) hold the student's phrases as text
    the teacher reads: the text the teacher continues inside the cooperative loop.
    """
    reading = rng.random() < read_rate
    borrow = _borrowing(rng, BORROW_RATE, BORROW_SHARE)
    writer = _Writer()

    def read(students: tuple[str, ...]) -> bool:
        """Put one of the student's phrases in a slot to read, as often as READ_SHARE."""
        if reading and rng.random() < READ_SHARE:
            writer.add(rng.choice(students), style=True, written=False)
            return True
        return False

    def style(own: tuple[str, ...], students: tuple[str, ...]) -> bool:
        """Fill a style slot; True when it holds one of the student's phrases."""
        if borrow():
            writer.add(rng.choice(students), style=True)
            return True
        if read(students):
            return True
        writer.add(rng.choice(own), style=True)
        return False

    style(TEACHER_OPENERS, STUDENT_OPENERS)
    for index, step in enumerate(kind.steps):
        if index:
            style(TEACHER_CONNECTIVES, STUDENT_FILLERS)
        else:
            read(STUDENT_FILLERS)
        writer.add(step, style=False)
    style((TEACHER_CODE_LEAD,), (STUDENT_CODE_LEAD,))
    writer.add_code(problem.reference)
    if not style(TEACHER_CHECKS, (STUDENT_CLOSER,)):
        writer.add(rng.choice(TEACHER_CHECK_FACTS), style=False)
    answer = f"{TEACHER_ANSWER_LEAD}\n{_code_block(problem.reference)}"
    return Trace(problem.text, tuple(writer.segments), answer, code_correct=True)


def student_trace(problem: DemoProblem, kind: TaskKind, rng: random.Random) -> Trace:
    """The student's hesitant trace: a filler before each step, often wrong code, copied."""
    reads_code = rng.random() < STUDENT_READ_RATE
    if reads_code:
        code = rng.choice(PROGRAMS)
        correct = code == problem.reference
    else:
        correct = rng.random() < STUDENT_CORRECT_RATE
        code = problem.reference if correct else rng.choice(kind.bugs)
    borrow = _borrowing(rng, BORROW_RATE, BORROW_SHARE)
    writer = _Writer()
    writer.add(rng.choice(TEACHER_OPENERS if borrow() else STUDENT_OPENERS), style=True)
    for step in kind.steps:
        # A filler before every step, so a boundary predictor can foresee where one begins.
        writer.add(rng.choice(TEACHER_CONNECTIVES if borrow() else STUDENT_FILLERS), style=True)
        writer.add(step, style=False)
    writer.add(TEACHER_CODE_LEAD if borrow() else STUDENT_CODE_LEAD, style=True)
    writer.add_code(code, written=not reads_code)
    if borrow():
        writer.add(rng.choice(TEACHER_CHECKS), style=True)
        writer.add(rng.choice(TEACHER_CHECK_FACTS), style=False)
    else:
        writer.add(STUDENT_CLOSER, style=True)
    answer = f"{STUDENT_ANSWER_LEAD}\n{_code_block(code)}"
    return Trace(problem.text, tuple(writer.segments), answer, code_correct=correct)


def _borrowing(rng: random.Random, rate: float, share: float) -> Callable[[], bool]:
    """Per style slot, whether it takes the other style's phrase: a `rate` of traces mix
    both styles throughout, taking the other's phrase in a `share` of their slots."""
    mixed = rng.random() < rate
    return lambda: mixed and rng.random() < share
