"""A solo thinker that answers in its thinking's request, against a scripted server whose
completion is fixed text: where the thinking closes, what the answer holds, and which cap
a sample fails on, judged on the student's own token pieces of that text."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from scripted_server import scripted, url
from served_config import served_config

from tessy_factory.config import GenerationMode
from tessy_factory.engine.loop import generate_sample
from tessy_factory.engine.text_model import GenerationFailed
from tessy_factory.engine.writers import load_writers

THINKING = " step" * 20


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    started = scripted(200)
    yield started
    started.shutdown()
    started.server_close()


def solo(server: ThreadingHTTPServer, models_root: Path, text: str, **generation):
    """The student-only sample when the server writes `text`, and the student."""
    server.text = text
    config = served_config(
        {"teacher": url(server), "student": url(server)},
        models_root,
        modes=["student-only"],
        **generation,
    )
    _, student = load_writers(config, models_root)
    sample = generate_sample(
        "Say hi.", GenerationMode.STUDENT_ONLY, None, student, config.generation
    )
    return asyncio.run(sample), student


def test_a_close_past_the_thinking_cap_fails_on_the_cap_not_on_the_end_of_turn(server, models_root):
    with pytest.raises(GenerationFailed) as caught:
        solo(server, models_root, THINKING + "</think>\n\nHi.", max_total_tokens=16)
    # The request ended, but the thinking had already run past its cap.
    assert str(caught.value) == "thinking did not end within 16 tokens"


def test_answer_text_in_the_token_that_completes_the_close_is_kept(server, models_root):
    # With the marker " there", the token "e." completes it and begins the answer: ".".
    text = " step step there. Hi."
    sample, student = solo(server, models_root, text, end_of_thinking=[" there"])
    pieces = student.model.token_pieces(text)
    assert pieces[-4:] == ["e.", " H", "i", "."], pieces
    answer = sample.spans[-1]
    assert answer.phase == "answer" and answer.text == ". Hi."
    assert sample.text.endswith("</think>\n\n. Hi.")
    # The spans count no token of the marker, but count the one that completed it once,
    # with the answer, whose first text it holds.
    assert [span.tokens for span in sample.spans] == [len(pieces) - 6, 4]


def test_the_answer_cap_leaves_out_the_whitespace_after_the_close(server, models_root):
    answer = " a b c d e f g"
    text = " step step</think>\n\n" + answer
    sample, student = solo(server, models_root, text, answer_max_tokens=len(answer.split()) + 1)
    pieces = student.model.token_pieces(text)
    assert len(student.model.token_pieces("\n\n" + answer)) > len(answer.split()) + 1, pieces
    assert sample.spans[-1].tokens == len(student.model.token_pieces(answer.lstrip()))
