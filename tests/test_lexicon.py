"""The lexicon boundary predictor labels listed phrases as style, words around them not."""

from __future__ import annotations

import asyncio

import pytest

from tessy_factory.config import BuildConfig, GenerationMode
from tessy_factory.demo.problems import build_problems
from tessy_factory.engine.cut import cut_index
from tessy_factory.engine.lexicon import LexiconPredictor
from tessy_factory.engine.loop import generate_sample
from tessy_factory.engine.writers import load_writers


def test_words_inside_a_phrase_are_style_and_others_capability():
    predictor = LexiconPredictor("lexicon", ["Let me think.", "Hmm,"])
    labels = predictor.label_chunk("", "Read n. Hmm, Let me think. Sum them.")
    words = ["Read", "n.", "Hmm,", "Let", "me", "think.", "Sum", "them."]
    assert [style for _, style in labels] == [False, False, True, True, True, True, False, False]
    chunk = "Read n. Hmm, Let me think. Sum them."
    assert [chunk[offset:].split()[0] for offset, _ in labels] == words


def test_a_phrase_begun_in_the_context_is_style_in_the_chunk():
    predictor = LexiconPredictor("lexicon", ["Okay, let's see."])
    labels = predictor.label_chunk("<think>\nOkay, let's", " see. Read n.")
    assert labels == [(1, True), (6, False), (11, False)]


def test_the_teacher_is_cut_before_a_listed_phrase():
    predictor = LexiconPredictor("lexicon", ["Wait,"])
    pieces = [" Add", " them", ".", " Wait", ",", " then"]
    labels = predictor.label_chunk("Read n.", "".join(pieces))
    assert cut_index(pieces, labels, cut_at_style=True) == 3


def test_an_empty_lexicon_is_refused():
    with pytest.raises(ValueError, match=r"'lexicon'.*at least one non-empty phrase"):
        LexiconPredictor("lexicon", ["  "])


def test_tessy_runs_with_lexicon_predictors(models_root):
    config = BuildConfig.model_validate(
        {
            "teacher_predictor": {"model": "lexicon"},
            "student_predictor": {"model": "lexicon"},
            "generation": {"max_total_tokens": 512, "answer_max_tokens": 128},
        }
    )
    teacher, student = load_writers(config, models_root)
    assert isinstance(teacher.predictor.predictor, LexiconPredictor)
    prompt = build_problems(1, 2026)[0].text
    sample = asyncio.run(
        generate_sample(prompt, GenerationMode.TESSY, teacher, student, config.generation)
    )
    authors = {span.author for span in sample.spans}
    assert authors == {"teacher", "student"} and sample.n_switches >= 1
    assert sample.text.startswith("<think>\n") and "\n</think>\n\n" in sample.text
