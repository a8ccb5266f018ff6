"""Safeguards of the generation loop: loops are refused, any end-of-thinking marker counts."""

from __future__ import annotations

from tessy_factory.config import GenerationConfig, RepetitionConfig
from tessy_factory.engine.loop import (
    Span,
    Writer,
    _after_last_close,
    _AnswerOver,
    _thinking_before_marker,
    _Trace,
    _until_close,
)
from tessy_factory.engine.repetition import repeated_fragment

RULE = RepetitionConfig()
MARKERS = GenerationConfig().end_of_thinking


def test_a_fragment_repeated_eight_times_in_a_row_is_a_loop():
    text = "Read n. " + "Wait, let me check again. " * 8
    assert repeated_fragment(text, RULE) == "Wait, let me check again."


def test_seven_repeats_or_a_broken_run_is_not_a_loop():
    assert repeated_fragment("Read n. " + "Wait, let me check. " * 7, RULE) is None
    assert repeated_fragment("Wait, let me check. " * 8 + "Print it.", RULE) is None


def test_fragments_shorter_than_the_minimum_do_not_count():
    assert repeated_fragment("ok " * 20, RULE) is None  # 1-word runs need min_words 1
    assert repeated_fragment("ok " * 20, RepetitionConfig(min_words=1)) == "ok"


def test_only_the_window_is_searched():
    loop = "a b c " * 8
    assert repeated_fragment(loop, RepetitionConfig(window_chars=len(loop))) == "a b c"
    assert repeated_fragment(loop, RepetitionConfig(window_chars=20)) is None


def test_the_gpt_oss_final_channel_ends_the_thinking_like_think_close():
    pieces = [" done", ".", "<|channel|>", "final", "<|message|>", "Answer"]
    kept, closed = _until_close(pieces, "<think>\nAll", MARKERS)
    assert closed and kept == pieces[:5]
    text = "<think>\nAll done.<|channel|>final<|message|>"
    assert _thinking_before_marker(text, MARKERS) == "<think>\nAll done."


def test_a_marker_begun_in_the_previous_turn_is_seen():
    kept, closed = _until_close(["final<|message|>", " x"], "abc<|channel|>", MARKERS)
    assert closed and kept == ["final<|message|>"]


def test_without_a_marker_the_chunk_stays_open():
    assert _until_close([" a", " b"], "<think>\n", MARKERS) == ([" a", " b"], False)


def test_an_answer_that_closes_more_thinking_keeps_only_what_follows():
    pieces = ["That", " works.", "\n</", "think>", "\n\n", "Here", " is", " code"]
    assert _after_last_close(pieces, ["</think>"]) == ["\n\n", "Here", " is", " code"]
    assert _after_last_close(["Here", " is"], ["</think>"]) == ["Here", " is"]


def test_closing_the_thinking_trims_the_marker_off_the_spans_even_across_authors():
    trace = _Trace("prompt", seed=0)
    student, teacher = Writer("student", None), Writer("teacher", None)
    # The student's turn is cut after a newline; the teacher writes only the marker.
    trace.add(student, ["All", " done", ".\n"], "thinking", cut=3)
    trace.sample.n_switches = 1
    trace.add(teacher, ["</", "think>"], "thinking")
    assert trace.close_thinking(MARKERS) == "<think>\nAll done."
    assert trace.sample.spans == [Span("student", "All done.", 3, "thinking", cut=3)]
    assert trace.sample.n_switches == 1


def test_a_token_that_holds_text_and_the_marker_counts_for_its_text():
    trace = _Trace("prompt", seed=0)
    trace.add(Writer("teacher", None), ["Sum", " it.</think>"], "thinking")
    assert trace.close_thinking(MARKERS) == "<think>\nSum it."
    assert trace.sample.spans == [Span("teacher", "Sum it.", 2, "thinking")]


def test_a_local_answer_in_the_thinkings_request_is_capped_past_the_whitespace_after_close():
    # The local path's stop hint caps as the answer's count does: not "\n", "\n", nor
    # the token that completes the close, whose text after the marker counts as answer.
    config = GenerationConfig(max_total_tokens=16, answer_max_tokens=3)
    over = _AnswerOver("<think>\n", config)
    thinking = ["a ", "b ", "</thi", "nk>"]
    assert not over(thinking[:1])
    assert [over(thinking + ["\n", "\n"] + ["x"] * n) for n in range(5)] == [
        False,
        False,
        False,
        False,
        True,
    ]
    over = _AnswerOver("<think>\n", config)
    assert [over(["a ", "</thi", "nk>An"] + ["x"] * n) for n in range(4)] == [
        False,
        False,
        False,
        True,
    ]
