"""Tests of the miniature world: the two writing styles, the tokenizer and the predictor labels."""

from __future__ import annotations

import random
import re
from itertools import pairwise
from pathlib import Path

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from tessy_factory.demo.problems import TASK_KINDS, training_problems
from tessy_factory.miniature.build import write_traces
from tessy_factory.miniature.styles import (
    BORROW_RATE,
    STUDENT_CORRECT_RATE,
    STUDENT_PHRASES,
    TEACHER_PHRASES,
    Trace,
    student_trace,
    teacher_trace,
)
from tessy_factory.miniature.tokenizer import EOS, train_tokenizer
from tessy_factory.miniature.train import IGNORE, predictor_example
from tessy_factory.report import count_phrases
from tessy_factory.trace_format import THINK_OPEN

N_TRACES = 2000
STYLE_PHRASES = {*STUDENT_PHRASES, *TEACHER_PHRASES}
CODE_BLOCK = re.compile(r"```python\n(.*?)\n```", re.DOTALL)
KINDS = {kind.name: kind for kind in TASK_KINDS}


@pytest.fixture(scope="module")
def student_traces() -> list[Trace]:
    return write_traces(student_trace, N_TRACES, seed=3)


@pytest.fixture(scope="module")
def teacher_traces() -> list[Trace]:
    return write_traces(teacher_trace, N_TRACES, seed=3)


@pytest.fixture(scope="module")
def tokenizer(student_traces: list[Trace], teacher_traces: list[Trace]) -> PreTrainedTokenizerFast:
    traces = student_traces[:200] + teacher_traces[:200]
    return train_tokenizer([t.prompt for t in traces] + [t.completion for t in traces], 400)


def span_texts(trace: Trace) -> list[str]:
    return [trace.thinking[start:end] for start, end in trace.style_spans()]


def segment_ranges(trace: Trace, *, style: bool) -> list[tuple[int, int]]:
    """Character ranges of the segments of one kind, leading whitespace excluded."""
    ranges, start = [], 0
    for segment in trace.segments:
        end = start + len(segment.text)
        if segment.style == style:
            ranges.append((start + len(segment.text) - len(segment.text.lstrip()), end))
        start = end
    return ranges


def code_blocks(text: str) -> list[str]:
    return CODE_BLOCK.findall(text)


def is_mixed(trace: Trace, foreign: tuple[str, ...]) -> bool:
    return any(text in foreign for text in span_texts(trace))


@pytest.mark.parametrize("which", ["student_traces", "teacher_traces"])
def test_style_spans_cover_exactly_the_style_phrases(which: str, request) -> None:
    for trace in request.getfixturevalue(which)[:300]:
        texts = span_texts(trace)
        assert texts == [s.text.strip() for s in trace.segments if s.style]
        assert set(texts) <= STYLE_PHRASES
        spans = trace.style_spans()
        assert all(start < end for start, end in spans)
        assert all(end <= next_start for (_, end), (next_start, _) in pairwise(spans))


@pytest.mark.parametrize("which", ["student_traces", "teacher_traces"])
def test_capability_text_is_never_inside_a_style_span(which: str, request) -> None:
    for trace in request.getfixturevalue(which)[:300]:
        capability = segment_ranges(trace, style=False)
        assert capability, "every trace has reasoning steps and code"
        for cap_start, cap_end in capability:
            for start, end in trace.style_spans():
                assert cap_end <= start or end <= cap_start, (trace.thinking, (start, end))


def test_the_student_answers_with_the_code_of_its_thinking(student_traces: list[Trace]) -> None:
    for trace in student_traces[:300]:
        (thought,) = code_blocks(trace.thinking)
        (answered,) = code_blocks(trace.answer)
        assert answered == thought


def test_the_teacher_writes_the_reference_program() -> None:
    for problem in training_problems(len(TASK_KINDS) * 3, seed=5):
        trace = teacher_trace(problem, KINDS[problem.kind], random.Random(0))
        assert code_blocks(trace.thinking) == [problem.reference.rstrip()]
        assert code_blocks(trace.answer) == [problem.reference.rstrip()]
        assert trace.code_correct


def test_the_student_is_right_about_as_often_as_intended(student_traces: list[Trace]) -> None:
    correct = [trace.code_correct for trace in student_traces]
    assert abs(sum(correct) / len(correct) - STUDENT_CORRECT_RATE) < 0.05


def test_student_correctness_matches_its_code() -> None:
    rng = random.Random(11)
    for problem in training_problems(200, seed=11):
        trace = student_trace(problem, KINDS[problem.kind], rng)
        (code,) = code_blocks(trace.answer)
        assert trace.code_correct == (code == problem.reference.rstrip())


@pytest.mark.parametrize(
    ("which", "foreign"),
    [("student_traces", TEACHER_PHRASES), ("teacher_traces", STUDENT_PHRASES)],
)
def test_a_minority_of_traces_mixes_in_the_other_style(which: str, foreign, request) -> None:
    traces = request.getfixturevalue(which)
    rate = sum(is_mixed(trace, foreign) for trace in traces) / len(traces)
    # A mixed trace swaps each style slot with probability 0.6, so a few keep none swapped.
    assert BORROW_RATE - 0.04 < rate < BORROW_RATE + 0.03


def test_count_student_phrases_counts_every_occurrence() -> None:
    text = "Okay, let's see. Hmm, read n. Hmm, I think Plan: add. That should work, I guess."
    assert count_phrases(text, STUDENT_PHRASES) == 5
    assert count_phrases("Plan: read n. Next: add them. Code:", STUDENT_PHRASES) == 0
    assert count_phrases("", STUDENT_PHRASES) == 0


def test_a_pure_student_trace_has_one_student_phrase_per_style_span(
    student_traces: list[Trace], teacher_traces: list[Trace]
) -> None:
    pure_students = [t for t in student_traces if not is_mixed(t, TEACHER_PHRASES)]
    pure_teachers = [t for t in teacher_traces if not is_mixed(t, STUDENT_PHRASES)]
    for trace in pure_students[:300]:
        assert count_phrases(trace.thinking, STUDENT_PHRASES) == len(trace.style_spans())
    for trace in pure_teachers[:300]:
        assert count_phrases(trace.thinking, STUDENT_PHRASES) == 0


def test_think_tags_are_single_tokens_that_survive_skipping_special_tokens(
    tokenizer: PreTrainedTokenizerFast,
) -> None:
    text = "<think>\nAdd them all up.\n</think>\n\nSolution:"
    ids = tokenizer(text + EOS, add_special_tokens=False)["input_ids"]
    think_ids = tokenizer.convert_tokens_to_ids(["<think>", "</think>"])
    assert ids[0] == think_ids[0]
    assert think_ids[1] in ids
    assert tokenizer.unk_token_id not in think_ids
    assert "<think>" not in tokenizer.all_special_tokens
    assert "</think>" not in tokenizer.all_special_tokens
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    assert tokenizer.decode(ids, skip_special_tokens=False) == text + EOS


def test_the_chat_template_renders_a_user_turn_and_the_generation_prompt(
    tokenizer: PreTrainedTokenizerFast, tmp_path: Path
) -> None:
    expected = "<|im_start|>user\nSum the numbers.<|im_end|>\n<|im_start|>assistant\n"
    message = [{"role": "user", "content": "Sum the numbers."}]
    tokenizer.save_pretrained(tmp_path)
    # As the models load it: from disk, with its template and added tokens.
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    for tok in (tokenizer, reloaded):
        assert tok.apply_chat_template(message, add_generation_prompt=True, tokenize=False) == (
            expected
        )
        assert tok.eos_token == EOS
    assert reloaded.convert_tokens_to_ids("</think>") == tokenizer.convert_tokens_to_ids("</think>")
    assert "</think>" not in reloaded.all_special_tokens


def token_styles(trace: Trace, tokenizer: PreTrainedTokenizerFast) -> list[int]:
    """Per token of `<think>\\n` + thinking: 1 if any of its characters is style text."""
    text = THINK_OPEN + trace.thinking
    is_style = [False] * len(text)
    for start, end in trace.style_spans():
        for index in range(start + len(THINK_OPEN), end + len(THINK_OPEN)):
            is_style[index] = True
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)[
        "offset_mapping"
    ]
    return [int(any(is_style[start:end])) for start, end in offsets]


def test_predictor_labels_are_the_next_tokens_style(
    student_traces: list[Trace], tokenizer: PreTrainedTokenizerFast
) -> None:
    trace = student_traces[0]
    ids, labels = predictor_example(trace, tokenizer)
    styles = token_styles(trace, tokenizer)
    assert ids == tokenizer(THINK_OPEN + trace.thinking, add_special_tokens=False)["input_ids"]
    assert len(labels) == len(ids)
    assert labels[:-1] == styles[1:]
    assert labels[-1] == IGNORE
    assert labels[:-1] != styles[:-1], "labels must be shifted, not the tokens' own style"
    assert 0 < sum(labels[:-1]) < len(labels) - 1
    # The thinking opens with a style phrase: `<think>` predicts `\n` (capability), the
    # newline predicts the opener's first token (style).
    assert tokenizer.convert_ids_to_tokens(ids[0]) == "<think>"
    assert labels[:2] == [0, 1]
