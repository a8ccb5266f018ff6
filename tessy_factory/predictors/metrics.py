"""How good a boundary predictor is, measured against held-out labels.

Token accuracy alone says little: style is a minority of tokens, so a predictor that never
says style scores well while the loop would never hand a turn back. This module reports
style precision and recall per token, per span (a whole phrase found exactly), and the
quantity the loop actually depends on: how far the predicted cut in a chunk lands from the
true one (`tessy_factory/engine/cut.py` cuts at the first token of the other kind).

Only counted positions take part: those whose true label is not `IGNORE`. Runs, spans and
chunks are formed over the counted positions of an example in order, as if the ignored
ones were not there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tessy_factory.predictors.labels import IGNORE


@dataclass(frozen=True)
class PredictorMetrics:
    """Token-, span- and chunk-level scores; style is the positive class.

    Use `dataclasses.asdict` for a plain dict.
    """

    token_accuracy: float
    style_precision: float
    style_recall: float
    style_f1: float
    span_precision: float
    span_recall: float
    span_f1: float
    boundary_distance: float
    tokens: int
    true_spans: int
    predicted_spans: int
    chunks: int


@dataclass(frozen=True)
class _Counted:
    """The counted positions of all examples, flattened in order."""

    predicted: np.ndarray  # bool: predicted style
    true: np.ndarray  # bool: true style
    example: np.ndarray  # index of the example each position belongs to
    rank: np.ndarray  # position among the example's counted positions


def evaluate(
    predicted: Sequence[Sequence[int]],
    true: Sequence[Sequence[int]],
    cut_at_style: bool,
    chunk_tokens: int,
) -> PredictorMetrics:
    """Scores of per-position labels (1 style, 0 capability) against the true ones.

    `true` may hold `IGNORE` where a position does not count; the prediction there is
    skipped. `cut_at_style` and `chunk_tokens` describe how the loop uses this predictor:
    the teacher's chunks are cut at the first style token, the student's at the first
    capability token, in chunks of `chunk_tokens`.
    """
    if chunk_tokens < 1:
        raise ValueError(f"chunk_tokens must be at least 1, got {chunk_tokens}")
    _check_lengths(predicted, true)
    counted = _flatten(predicted, true)
    token_precision, token_recall, token_f1 = _scores(
        int(np.sum(counted.predicted & counted.true)),
        int(np.sum(counted.predicted)),
        int(np.sum(counted.true)),
    )
    true_spans = _spans(counted.true, counted.example)
    predicted_spans = _spans(counted.predicted, counted.example)
    # Span numbers grow with position, so each list is unique and `intersect1d` may skip
    # deduplicating (most of its time on large inputs).
    exact = np.intersect1d(true_spans, predicted_spans, assume_unique=True).size
    span_precision, span_recall, span_f1 = _scores(exact, predicted_spans.size, true_spans.size)
    distances = _boundary_distances(counted, cut_at_style, chunk_tokens)
    tokens = counted.true.size
    return PredictorMetrics(
        token_accuracy=_ratio(int(np.sum(counted.predicted == counted.true)), tokens),
        style_precision=token_precision,
        style_recall=token_recall,
        style_f1=token_f1,
        span_precision=span_precision,
        span_recall=span_recall,
        span_f1=span_f1,
        boundary_distance=float(distances.mean()) if distances.size else 0.0,
        tokens=tokens,
        true_spans=true_spans.size,
        predicted_spans=predicted_spans.size,
        chunks=distances.size,
    )


def _check_lengths(predicted: Sequence[Sequence[int]], true: Sequence[Sequence[int]]) -> None:
    if len(predicted) != len(true):
        raise ValueError(f"{len(predicted)} predicted examples but {len(true)} true ones")
    for index, (guess, truth) in enumerate(zip(predicted, true, strict=True)):
        if len(guess) != len(truth):
            raise ValueError(
                f"example {index}: {len(guess)} predicted labels but {len(truth)} true ones"
            )


def _flatten(predicted: Sequence[Sequence[int]], true: Sequence[Sequence[int]]) -> _Counted:
    """All examples' counted positions as flat arrays, so the scores need no Python loop."""
    lengths = np.array([len(labels) for labels in true], dtype=np.int64)
    flat_true = _concatenate(true)
    counted = flat_true != IGNORE
    example = np.repeat(np.arange(lengths.size), lengths)[counted]
    per_example = np.bincount(example, minlength=lengths.size)
    first = np.cumsum(per_example) - per_example
    return _Counted(
        predicted=_concatenate(predicted)[counted] == 1,
        true=flat_true[counted] == 1,
        example=example,
        rank=np.arange(example.size) - np.repeat(first, per_example),
    )


def _concatenate(examples: Sequence[Sequence[int]]) -> np.ndarray:
    # The empty array keeps concatenation defined when there are no examples.
    empty = np.empty(0, dtype=np.int64)
    return np.concatenate([empty, *(np.asarray(labels, dtype=np.int64) for labels in examples)])


def _spans(style: np.ndarray, example: np.ndarray) -> np.ndarray:
    """Each maximal run of style positions within one example, as one number that is equal
    for two runs exactly when both their start and end are."""
    same_example = example[1:] == example[:-1]
    continues_before = np.r_[False, style[:-1] & same_example]
    continues_after = np.r_[style[1:] & same_example, False]
    starts = np.flatnonzero(style & ~continues_before)
    ends = np.flatnonzero(style & ~continues_after)
    return starts * style.size + ends


def _boundary_distances(counted: _Counted, cut_at_style: bool, chunk_tokens: int) -> np.ndarray:
    """Per chunk, how many positions apart the true and the predicted cuts are."""
    offset = counted.rank % chunk_tokens
    chunk_starts = np.flatnonzero(offset == 0)
    if not chunk_starts.size:
        return np.empty(0)
    lengths = np.diff(np.r_[chunk_starts, offset.size])

    def first_cut(style: np.ndarray) -> np.ndarray:
        # Positions of the other kind stand in as `chunk_tokens`, past any real offset, so
        # the minimum is the first cut, or the chunk's length where nothing cuts.
        candidates = np.where(style == cut_at_style, offset, chunk_tokens)
        return np.minimum(np.minimum.reduceat(candidates, chunk_starts), lengths)

    return np.abs(first_cut(counted.true) - first_cut(counted.predicted))


def _scores(hits: int, predicted: int, true: int) -> tuple[float, float, float]:
    """Precision, recall and F1."""
    precision, recall = _ratio(hits, predicted), _ratio(hits, true)
    return precision, recall, _ratio(2 * precision * recall, precision + recall)


def _ratio(numerator: float, denominator: float) -> float:
    # An empty denominator scores 0.0, never 1.0: a predictor evaluated on data without
    # style, or one that never says style, has shown nothing, and a perfect score would
    # rank it first when predictors are compared.
    return float(numerator / denominator) if denominator else 0.0
