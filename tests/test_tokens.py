"""Tests of incremental re-encoding: the tokens of a growing text must be those of the whole
text, however it grows or is cut back."""

from __future__ import annotations

import random

import pytest
from transformers import PreTrainedTokenizerFast

from tessy_factory.engine.tokens import RESYNC_TOKENS, Encoding, encode, reencode
from tessy_factory.miniature.build import write_traces
from tessy_factory.miniature.styles import student_trace, teacher_trace
from tessy_factory.miniature.tokenizer import train_tokenizer

TRACES = write_traces(teacher_trace, 40, seed=5) + write_traces(student_trace, 40, seed=6)
# Text the tokenizer has not seen: other scripts, emoji split into byte tokens, long runs
# of spaces and newlines, digits.
UNSEEN = "Überprüfe 𝛼≈0.5 🙂🙂  naïve   \n\n\n    x = 12345678 ** 2\t\t# ok\r\n"


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    return train_tokenizer([trace.completion for trace in TRACES], vocab_size=600)


@pytest.fixture(scope="module")
def text() -> str:
    return "\n".join(trace.completion for trace in TRACES[:12]) + UNSEEN


def test_a_text_grown_turn_by_turn_encodes_as_the_whole_text(
    tokenizer: PreTrainedTokenizerFast, text: str
) -> None:
    rng = random.Random(0)
    old, end = Encoding(), 0
    reused = 0
    while end < len(text):
        end = min(len(text), end + rng.randint(1, 40))
        new, shared = reencode(tokenizer, old, text[:end])
        assert new == encode(tokenizer, text[:end])
        assert new.ids[:shared] == old.ids[:shared]
        reused += shared > 0
        old = new
    assert reused > 100, "most turns re-encode a tail only"


def test_a_text_cut_back_and_grown_another_way_encodes_as_the_whole_text(
    tokenizer: PreTrainedTokenizerFast, text: str
) -> None:
    rng = random.Random(1)
    old = encode(tokenizer, text[:300])
    for _ in range(300):
        keep = rng.randint(0, len(old.text))
        # Another author's words, sometimes joining the last word mid-way.
        grown = old.text[:keep] + rng.choice(["m, Rea", " Wait,", "\n```", "ï🙂", "  ", "x"])
        grown += text[rng.randint(0, len(text) - 50) :][: rng.randint(0, 50)]
        new, shared = reencode(tokenizer, old, grown)
        assert new == encode(tokenizer, grown)
        assert new.ids[:shared] == old.ids[:shared]
        old = new


def test_a_short_text_is_encoded_whole(tokenizer: PreTrainedTokenizerFast) -> None:
    old = encode(tokenizer, "Okay, let's see.")
    assert len(old.ids) <= RESYNC_TOKENS
    new, shared = reencode(tokenizer, old, "Okay, let's see. Read n.")
    assert (new, shared) == (encode(tokenizer, "Okay, let's see. Read n."), 0)


def test_encode_gives_the_tokenizers_own_ids_and_offsets(
    tokenizer: PreTrainedTokenizerFast, text: str
) -> None:
    for piece in (text, UNSEEN, "<think>\nHmm, </think>", ""):
        called = tokenizer(piece, add_special_tokens=False, return_offsets_mapping=True)
        encoded = encode(tokenizer, piece, offset=7)
        assert encoded.ids == called["input_ids"]
        assert encoded.starts == [7 + start for start, _ in called["offset_mapping"]]
