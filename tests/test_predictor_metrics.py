"""Tests of boundary-predictor metrics: small hand-computed cases that pin each definition,
and a property check over random labels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tessy_factory.predictors.labels import IGNORE
from tessy_factory.predictors.metrics import evaluate

SCORES = (
    "token_accuracy",
    "style_precision",
    "style_recall",
    "style_f1",
    "span_precision",
    "span_recall",
    "span_f1",
)


def test_a_perfect_predictor_scores_one_and_cuts_where_the_labels_do() -> None:
    labels = [[0, 1, 1, 0, 0, IGNORE], [1, 0, 0, 1, IGNORE]]
    metrics = evaluate(labels, labels, cut_at_style=True, chunk_tokens=3)
    assert all(getattr(metrics, name) == 1.0 for name in SCORES)
    assert metrics.boundary_distance == 0.0
    assert (metrics.tokens, metrics.true_spans, metrics.predicted_spans) == (9, 3, 3)
    assert metrics.chunks == 4


def test_a_predictor_that_never_says_style_finds_none_and_never_cuts() -> None:
    true = [[0, 0, 1, 1, 0, 0, IGNORE]]
    metrics = evaluate([[0] * 7], true, cut_at_style=True, chunk_tokens=3)
    assert metrics.token_accuracy == pytest.approx(4 / 6)
    assert (metrics.style_recall, metrics.style_precision, metrics.style_f1) == (0.0, 0.0, 0.0)
    assert (metrics.true_spans, metrics.predicted_spans, metrics.span_recall) == (1, 0, 0.0)
    # Chunks [0, 0, 1] and [1, 0, 0]: true cuts at 2 and 0, predicted at the chunk's end (3).
    assert metrics.boundary_distance == pytest.approx((1 + 3) / 2)


def test_a_shifted_span_earns_token_credit_but_no_span_credit() -> None:
    metrics = evaluate([[0, 0, 1, 1, 0]], [[0, 1, 1, 0, 0]], cut_at_style=True, chunk_tokens=5)
    assert metrics.token_accuracy == pytest.approx(3 / 5)
    assert (metrics.style_precision, metrics.style_recall) == (0.5, 0.5)
    assert metrics.style_f1 == pytest.approx(0.5)
    assert (metrics.span_precision, metrics.span_recall, metrics.span_f1) == (0.0, 0.0, 0.0)
    assert metrics.boundary_distance == 1.0


def test_spans_end_at_the_end_of_an_example() -> None:
    # One run across the two examples would be one true span that the prediction misses.
    metrics = evaluate([[0, 1], [0, 0]], [[0, 1], [1, 0]], cut_at_style=True, chunk_tokens=2)
    assert (metrics.true_spans, metrics.predicted_spans) == (2, 1)
    assert (metrics.span_precision, metrics.span_recall) == (1.0, 0.5)


def test_ignored_positions_are_skipped_whatever_is_predicted_there() -> None:
    true = [[IGNORE, 1, IGNORE, 1, 0, IGNORE]]
    metrics = evaluate([[0, 1, 0, 1, 0, 1]], true, cut_at_style=True, chunk_tokens=2)
    assert metrics.tokens == 3
    assert all(getattr(metrics, name) == 1.0 for name in SCORES)
    # The style positions either side of an ignored one form a single span.
    assert (metrics.true_spans, metrics.predicted_spans) == (1, 1)
    assert (metrics.chunks, metrics.boundary_distance) == (2, 0.0)


def test_chunks_restart_with_each_example_and_the_last_one_may_be_shorter() -> None:
    true = [[0, 0, 1, 0, 0, 0, 0], [1, 0]]
    predicted = [[1, 0, 0, 0, 1, 0, 1], [0, 1]]
    metrics = evaluate(predicted, true, cut_at_style=True, chunk_tokens=3)
    # Chunks and cuts (true, predicted): [0 0 1] (2, 0), [0 0 0] (3, 1), [0] (1, 0), [1 0] (0, 1).
    assert metrics.chunks == 4
    assert metrics.boundary_distance == pytest.approx((2 + 2 + 1 + 1) / 4)


def test_a_student_predictor_is_cut_at_the_first_capability_token() -> None:
    true, predicted = [[1, 1, 0, 0]], [[1, 0, 0, 0]]
    student = evaluate(predicted, true, cut_at_style=False, chunk_tokens=4)
    teacher = evaluate(predicted, true, cut_at_style=True, chunk_tokens=4)
    assert student.boundary_distance == 1.0
    assert teacher.boundary_distance == 0.0


def test_without_style_or_examples_the_scores_are_zero_not_perfect() -> None:
    no_style = evaluate([[0, 0]], [[0, 0]], cut_at_style=True, chunk_tokens=2)
    assert no_style.token_accuracy == 1.0
    assert (no_style.style_f1, no_style.span_f1) == (0.0, 0.0)
    empty = evaluate([], [], cut_at_style=True, chunk_tokens=2)
    assert dataclasses.asdict(empty) == dict.fromkeys(dataclasses.asdict(empty), 0)


def test_mismatched_inputs_and_empty_chunks_are_refused() -> None:
    with pytest.raises(ValueError, match="example 1: 1 predicted labels but 2 true ones"):
        evaluate([[0, 1], [0]], [[0, 1], [0, 1]], cut_at_style=True, chunk_tokens=2)
    with pytest.raises(ValueError, match="1 predicted examples but 2 true ones"):
        evaluate([[0]], [[0], [1]], cut_at_style=True, chunk_tokens=2)
    with pytest.raises(ValueError, match="chunk_tokens must be at least 1, got 0"):
        evaluate([[0]], [[0]], cut_at_style=True, chunk_tokens=0)


def test_random_labels_score_within_bounds_and_against_themselves_perfectly() -> None:
    rng = np.random.default_rng(7)
    lengths = rng.integers(0, 40, size=60)
    true = [np.where(rng.random(n) < 0.1, IGNORE, rng.integers(0, 2, n)) for n in lengths]
    predicted = [rng.integers(0, 2, n) for n in lengths]
    for cut_at_style in (True, False):
        metrics = evaluate(predicted, true, cut_at_style, chunk_tokens=5)
        assert all(0.0 <= getattr(metrics, name) <= 1.0 for name in SCORES)
        assert 0.0 <= metrics.boundary_distance <= 5.0
        # Predictions at ignored positions differ from `true` there and must not count.
        own = [
            np.where(labels == IGNORE, prediction, labels)
            for labels, prediction in zip(true, predicted, strict=True)
        ]
        perfect = evaluate(own, true, cut_at_style, chunk_tokens=5)
        assert all(getattr(perfect, name) == 1.0 for name in SCORES)
        assert perfect.boundary_distance == 0.0
        assert perfect.true_spans == perfect.predicted_spans == metrics.true_spans > 0
