"""Tests of a boundary predictor's training data: windows of traces, annotations, labels."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from transformers import PreTrainedTokenizerFast

from tessy_factory.config import ModelConfig
from tessy_factory.engine.local_model import LocalModel
from tessy_factory.miniature.build import miniature_dir, write_traces
from tessy_factory.miniature.styles import STUDENT_PHRASES, student_trace, teacher_trace
from tessy_factory.miniature.tokenizer import train_tokenizer
from tessy_factory.predictors.annotate import (
    ANNOTATION_PROMPT,
    AnnotationRejected,
    LexiconAnnotator,
    ModelAnnotator,
    parse_annotation,
)
from tessy_factory.predictors.labels import IGNORE, token_labels
from tessy_factory.predictors.windows import cut_windows

TRACES = write_traces(teacher_trace, 30, seed=7) + write_traces(student_trace, 30, seed=8)
THINKING = [trace.thinking for trace in TRACES]
WINDOW = "Okay, let's see. Read n.  Hmm, sum the\ndigits of n. Wait, n may be 0."


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    return train_tokenizer([trace.completion for trace in TRACES], vocab_size=600)


def test_windows_are_the_traces_own_words_at_their_start() -> None:
    windows = cut_windows(THINKING, words=20, count=200, seed=0)
    assert len(windows) == 200
    for window in windows:
        assert len(window.text.split()) == 20
        trace = THINKING[window.trace]
        assert trace[window.start : window.start + len(window.text)] == window.text
        assert window.text == window.text.strip()
    # Windows come from many traces and places, and keep the traces' newlines.
    assert len({window.trace for window in windows}) > 20
    assert any("\n" in window.text for window in windows)


def test_the_same_seed_gives_the_same_windows_and_another_seed_others() -> None:
    first = cut_windows(THINKING, words=20, count=50, seed=1)
    assert cut_windows(THINKING, words=20, count=50, seed=1) == first
    assert cut_windows(THINKING, words=20, count=50, seed=2) != first


def test_a_short_trace_is_one_window_of_the_whole_trace_stripped() -> None:
    windows = cut_windows(["", "  Hmm, read n.\n  Sum it. \n"], words=60, count=5, seed=0)
    assert {(window.trace, window.start, window.text) for window in windows} == {
        (1, 2, "Hmm, read n.\n  Sum it.")
    }


def test_traces_are_picked_in_proportion_to_their_windows() -> None:
    # 1 possible window in the short trace, 91 in the long one.
    traces = ["one two three", " ".join(f"w{index}" for index in range(100))]
    windows = cut_windows(traces, words=10, count=920, seed=3)
    from_short = sum(window.trace == 0 for window in windows)
    assert 1 <= from_short <= 30
    assert len({window.start for window in windows if window.trace == 1}) > 80


def test_empty_traces_are_skipped_and_no_words_at_all_is_refused() -> None:
    windows = cut_windows(["", " \n\t", THINKING[0]], words=10, count=20, seed=0)
    assert {window.trace for window in windows} == {2}
    with pytest.raises(
        ValueError, match=r"no trace has a word to cut windows from \(2 traces given\)"
    ):
        cut_windows(["", " \n "], words=10, count=20, seed=0)
    with pytest.raises(ValueError, match="words per window must be at least 1, got 0"):
        cut_windows(THINKING, words=0, count=20, seed=0)


def test_a_plain_array_gives_the_spans_of_its_phrases_in_order() -> None:
    spans = parse_annotation('["Okay, let\'s see.", "Hmm,", " Wait, "]', WINDOW)
    assert [WINDOW[start:end] for start, end in spans] == ["Okay, let's see.", "Hmm,", "Wait,"]


def test_an_array_fenced_after_thinking_is_read_and_an_empty_one_gives_no_spans() -> None:
    # The thinking quotes another array and another fence, which must not be read.
    answer = (
        '<think>\nMaybe ["Read n."]?\n```\n["no"]\n```\n</think>\n\n'
        'Here it is:\n```json\n["Hmm,"]\n```\n'
    )
    assert parse_annotation(answer, WINDOW) == [(26, 30)]
    assert parse_annotation("[]", WINDOW) == []
    assert parse_annotation("```\n[]\n```", WINDOW) == []


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("The phrases are Hmm and Wait.", "not JSON: 'The phrases are Hmm and Wait.'"),
        ('{"phrases": ["Hmm,"]}', "not a JSON array"),
        ('["Hmm,", 3]', "item 1 is not a string"),
        ('["Hmm,", "  "]', "item 1 is empty"),
        (
            '["Let me think about it."]',
            "phrase 0 not found verbatim after the previous one: 'Let me think about it.'",
        ),
        ('["Wait,", "Hmm,"]', "phrase 1 not found verbatim after the previous one: 'Hmm,'"),
    ],
)
def test_an_unusable_answer_is_rejected_with_its_reason(answer: str, reason: str) -> None:
    with pytest.raises(AnnotationRejected) as rejected:
        parse_annotation(answer, WINDOW)
    assert str(rejected.value) == reason


def test_a_long_phrase_not_found_is_cut_in_the_reason() -> None:
    with pytest.raises(AnnotationRejected, match=r"'x{60}\.\.\.'$"):
        parse_annotation(f'["{"x" * 100}"]', WINDOW)


def test_the_lexicon_annotator_marks_exactly_the_phrases_longest_first() -> None:
    annotator = LexiconAnnotator(["Hmm,", "Hmm, sum", "Wait,", "  "])
    spans = annotator.annotate(WINDOW)
    assert [WINDOW[start:end] for start, end in spans] == ["Hmm, sum", "Wait,"]
    assert annotator.annotate("Read n. Sum it.") == []


def test_the_lexicon_annotator_finds_every_miniature_style_span() -> None:
    annotator = LexiconAnnotator(STUDENT_PHRASES)
    for trace in write_traces(student_trace, 10, seed=9):
        # Student traces also borrow teacher phrases, which the student lexicon lacks.
        listed = [
            (start, end)
            for start, end in trace.style_spans()
            if trace.thinking[start:end] in STUDENT_PHRASES
        ]
        assert listed and set(listed) <= set(annotator.annotate(trace.thinking))


def test_an_empty_lexicon_is_refused() -> None:
    with pytest.raises(ValueError, match="lexicon annotator: phrases must hold at least one"):
        LexiconAnnotator(["", " \n"])


def test_a_token_is_style_when_it_overlaps_a_span_and_labels_the_position_before(
    tokenizer: PreTrainedTokenizerFast,
) -> None:
    spans = LexiconAnnotator(["Hmm,", "Wait,"]).annotate(WINDOW)
    ids, labels = token_labels(WINDOW, spans, tokenizer)
    encoded = tokenizer(WINDOW, add_special_tokens=False, return_offsets_mapping=True)
    assert ids == encoded["input_ids"]
    assert len(labels) == len(ids) and labels[-1] == IGNORE
    styled = "".join(
        WINDOW[start:end]
        for (start, end), label in zip(encoded["offset_mapping"][1:], labels[:-1], strict=True)
        if label == 1
    )
    assert styled.split() == ["Hmm,", "Wait,"]
    # Shifted by one: the token before " Hmm," is labelled style, " Hmm," itself not.
    hmm = next(i for i, (_, end) in enumerate(encoded["offset_mapping"]) if end > 26)
    assert labels[hmm - 1] == 1 and labels[hmm] == 0


def test_a_token_partly_inside_a_span_is_style(tokenizer: PreTrainedTokenizerFast) -> None:
    offsets = tokenizer(WINDOW, add_special_tokens=False, return_offsets_mapping=True)[
        "offset_mapping"
    ]
    second_start, second_end = offsets[1]
    # A one-character span at the end of the second token marks it, and no other.
    _, labels = token_labels(WINDOW, [(second_end - 1, second_end)], tokenizer)
    assert second_end - second_start > 1
    assert labels[:-1] == [1] + [0] * (len(labels) - 2)


def test_truncation_keeps_the_next_tokens_label(tokenizer: PreTrainedTokenizerFast) -> None:
    spans = LexiconAnnotator(["Hmm,", "Wait,"]).annotate(WINDOW)
    ids, labels = token_labels(WINDOW, spans, tokenizer)
    hmm = labels.index(1)
    short_ids, short_labels = token_labels(WINDOW, spans, tokenizer, max_length=hmm + 1)
    assert short_ids == ids[: hmm + 1]
    assert short_labels == labels[: hmm + 1] and short_labels[-1] == 1
    assert token_labels("", [], tokenizer) == ([], [])
    with pytest.raises(ValueError, match="max_length must be at least 1, got 0"):
        token_labels(WINDOW, spans, tokenizer, max_length=0)


def test_the_prompt_holds_the_window_verbatim() -> None:
    prompt = ANNOTATION_PROMPT.format(text=WINDOW)
    assert f"\n{WINDOW}\n" in prompt and "JSON array" in prompt


def test_a_model_that_answers_no_json_is_rejected_not_crashed_on(models_root: Path) -> None:
    path = miniature_dir(models_root) / "teacher"
    model = LocalModel("teacher", str(path), ModelConfig(model="miniature:teacher", temperature=0))
    annotator = ModelAnnotator(model, max_new_tokens=48)
    answer = asyncio.run(annotator.answer(WINDOW, seed=0))
    assert isinstance(answer, str) and answer
    assert asyncio.run(annotator.answer(WINDOW, seed=0)) == answer
    with pytest.raises(AnnotationRejected, match=r"^not JSON: "):
        parse_annotation(answer, WINDOW)
