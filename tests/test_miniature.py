"""Tests of the miniature world: the two writing styles, the tokenizer and the predictor labels."""

from __future__ import annotations

import random
import re
from itertools import pairwise
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoTokenizer,
    PreTrainedTokenizerFast,
    Qwen3ForCausalLM,
    Qwen3ForTokenClassification,
)

from tessy_factory.demo.problems import TASK_KINDS, training_problems
from tessy_factory.miniature.build import (
    MINIATURE_VERSION,
    TRAINING_SEED,
    miniature_dir,
    resolve_model,
    world_traces,
    write_traces,
)
from tessy_factory.miniature.styles import (
    BORROW_RATE,
    READ_RATE,
    STUDENT_CORRECT_RATE,
    STUDENT_FILLERS,
    STUDENT_PHRASES,
    STUDENT_READ_RATE,
    TEACHER_PHRASES,
    WORLDS,
    Trace,
    student_trace,
    teacher_trace,
)
from tessy_factory.miniature.tokenizer import EOS, train_tokenizer
from tessy_factory.miniature.train import (
    CLASSIFIER_LABELS,
    IGNORE,
    Shape,
    collate,
    lm_example,
    predictor_example,
    weighted_loss,
)
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


def written_span_texts(trace: Trace) -> list[str]:
    """The style phrases the trace's own model wrote (not those it only reads)."""
    read = trace.read_spans()
    return [
        trace.thinking[start:end] for start, end in trace.style_spans() if (start, end) not in read
    ]


def read_texts(trace: Trace) -> list[str]:
    return [trace.thinking[start:end] for start, end in trace.read_spans()]


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
    correct = [trace.code_correct for trace in student_traces if not trace.read_spans()]
    assert abs(sum(correct) / len(correct) - STUDENT_CORRECT_RATE) < 0.05


def test_the_student_writes_its_tasks_programs_and_reads_any_other(
    student_traces: list[Trace],
) -> None:
    problems = training_problems(N_TRACES, 3)
    family = {code.rstrip() for kind in TASK_KINDS for code in (kind.solution, *kind.bugs)}
    reading = 0
    for trace, problem in zip(student_traces, problems, strict=True):
        kind = KINDS[problem.kind]
        (code,) = code_blocks(trace.thinking)
        (code_segment,) = [s for s in trace.segments if "```" in s.text]
        if code_segment.written:
            assert code + "\n" in (kind.solution, *kind.bugs)
        else:
            reading += 1
            assert code in family
            assert read_texts(trace) == [code_segment.text.strip() + "\n"]
    assert abs(reading / len(student_traces) - STUDENT_READ_RATE) < 0.04


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
    writes = [any(text in foreign for text in written_span_texts(trace)) for trace in traces]
    rate = sum(writes) / len(traces)
    # A mixed trace swaps each style slot with probability 0.6, so a few keep none swapped.
    assert BORROW_RATE - 0.04 < rate < BORROW_RATE + 0.03


def test_only_the_teacher_reads_the_others_phrases(
    student_traces: list[Trace], teacher_traces: list[Trace]
) -> None:
    for trace in student_traces:
        assert not any(
            trace.thinking[start:end] in STYLE_PHRASES for start, end in trace.read_spans()
        )
    reading = [trace for trace in teacher_traces if trace.read_spans()]
    # A reading trace reads each slot with probability 0.8: almost all read at least one.
    assert READ_RATE - 0.05 < len(reading) / len(teacher_traces) < READ_RATE + 0.03
    for trace in reading[:300]:
        assert set(read_texts(trace)) <= set(STUDENT_PHRASES)
        assert set(read_texts(trace)) <= set(span_texts(trace)), "what is read is style"


def test_a_reading_teacher_meets_the_student_phrases_where_the_student_puts_them(
    teacher_traces: list[Trace],
) -> None:
    """As the loop's text has them: the student's opener, then a filler before each step."""
    student_layouts = 0
    for trace in teacher_traces[:300]:
        opener, after, *_ = trace.segments
        if after.style:
            # Only a trace laid out as the student lays it out has a filler after its opener.
            student_layouts += 1
            assert after.text.strip() in STUDENT_FILLERS and not after.written
            assert not trace.segments[2].style, "the filler after the opener leads a step"
        assert opener.style
    assert student_layouts > 100


def test_the_student_writes_a_style_phrase_before_every_step(
    student_traces: list[Trace],
) -> None:
    problems = training_problems(N_TRACES, 3)
    for trace, problem in list(zip(student_traces, problems, strict=True))[:300]:
        segments = [(segment.text.strip(), segment.style) for segment in trace.segments]
        for step in KINDS[problem.kind].steps:
            index = segments.index((step, False))
            assert segments[index - 1][1], f"no style phrase before {step!r}"


def test_the_teacher_learns_to_write_all_but_what_it_reads(
    teacher_traces: list[Trace], tokenizer: PreTrainedTokenizerFast
) -> None:
    trace = next(t for t in teacher_traces if len(t.read_spans()) >= 2)
    ids, labels, weights = lm_example(trace, tokenizer, answer_weight=3.0)
    completion = tokenizer(
        trace.completion + EOS, add_special_tokens=False, return_offsets_mapping=True
    )
    prompt_tokens = len(ids) - len(completion["input_ids"])
    assert ids[prompt_tokens:] == completion["input_ids"]
    assert labels[:prompt_tokens] == [IGNORE] * prompt_tokens
    read = [(start + len(THINK_OPEN), end + len(THINK_OPEN)) for start, end in trace.read_spans()]
    answer_start = len(trace.completion) - len(trace.answer)
    pieces = zip(
        completion["offset_mapping"],
        completion["input_ids"],
        labels[prompt_tokens:],
        weights[prompt_tokens:],
        strict=True,
    )
    for (start, end), token, label, weight in pieces:
        in_read = any(start < span_end and span_start < end for span_start, span_end in read)
        assert label == (IGNORE if in_read else token), trace.completion[start:end]
        assert weight == (3.0 if start >= answer_start else 1.0)
    # What follows a read phrase is learned: the teacher continues after the student's words.
    after_read = next(
        index
        for index, (start, _) in enumerate(completion["offset_mapping"])
        if start >= read[0][1]
    )
    assert labels[prompt_tokens + after_read] != IGNORE


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


@pytest.mark.parametrize("model_class", [Qwen3ForCausalLM, Qwen3ForTokenClassification])
def test_the_weighted_loss_with_unit_weights_is_the_models_own_loss(
    model_class, student_traces: list[Trace], tokenizer: PreTrainedTokenizerFast
) -> None:
    make = lm_example if model_class is Qwen3ForCausalLM else predictor_example
    examples = [make(trace, tokenizer) for trace in student_traces[:4]]
    extra = {} if model_class is Qwen3ForCausalLM else CLASSIFIER_LABELS
    config = Shape(hidden=16, layers=1).config(
        len(tokenizer), pad_token_id=tokenizer.pad_token_id, **extra
    )
    torch.manual_seed(0)
    model = model_class(config).eval()  # no dropout: both losses see the same logits
    ids, labels, mask, weights = collate(examples, tokenizer.pad_token_id)
    assert weights.eq(1).all()
    expected = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    assert torch.allclose(weighted_loss(model, ids, labels, mask, weights), expected)
    # Weights change the loss only where they are not 1.
    weights[:, -8:] = 5.0
    assert not torch.allclose(weighted_loss(model, ids, labels, mask, weights), expected)


def reading_rate(traces: list[Trace]) -> float:
    return sum(bool(trace.read_spans()) for trace in traces) / len(traces)


@pytest.mark.parametrize("world", sorted(WORLDS))
def test_a_worlds_teacher_reads_student_phrases_in_its_share_of_the_training_traces(
    world: str,
) -> None:
    # The traces the build trains the world's teacher on.
    traces = world_traces("teacher", WORLDS[world], N_TRACES, TRAINING_SEED)
    assert WORLDS[world].read_rate - 0.04 < reading_rate(traces) < WORLDS[world].read_rate + 0.03
    assert all(set(read_texts(trace)) <= set(STUDENT_PHRASES) for trace in traces)


def test_the_paper_world_is_close_to_the_papers_setting_and_the_demo_keeps_its_own() -> None:
    assert WORLDS["paper"].read_rate == 0.15
    assert WORLDS["demo"].read_rate == READ_RATE == 0.7
    # The demo world's teacher traces are those the demo models were trained on.
    demo = world_traces("teacher", WORLDS["demo"], 200, TRAINING_SEED)
    assert demo == write_traces(teacher_trace, 200, TRAINING_SEED)


def test_worlds_differ_only_in_the_teachers_traces() -> None:
    student = [world_traces("student", WORLDS[w], 200, TRAINING_SEED) for w in sorted(WORLDS)]
    teacher = [world_traces("teacher", WORLDS[w], 200, TRAINING_SEED) for w in sorted(WORLDS)]
    assert student[0] == student[1]
    assert teacher[0] != teacher[1]


def test_a_miniature_name_picks_its_worlds_models(tmp_path: Path) -> None:
    for world in WORLDS:
        # A manifest marks the models as built, so nothing is trained here.
        miniature_dir(tmp_path, world).mkdir()
        (miniature_dir(tmp_path, world) / "manifest.json").write_text("{}")
    paper = resolve_model("miniature-paper:teacher", tmp_path, predictor=True)
    version = f"miniature-v{MINIATURE_VERSION}"
    assert paper == str(tmp_path / f"{version}-paper" / "teacher-predictor")
    demo = resolve_model("miniature:student", tmp_path, predictor=False)
    assert demo == str(tmp_path / version / "student")
    assert resolve_model("Qwen/Qwen3-8B", tmp_path, predictor=False) == "Qwen/Qwen3-8B"


@pytest.mark.parametrize("name", ["miniature-nowhere:teacher", "miniature:teacher-predictor"])
def test_an_unknown_miniature_world_or_role_is_named(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(name))):
        resolve_model(name, tmp_path, predictor=False)
    assert not any(tmp_path.iterdir()), "nothing is built for a bad name"
