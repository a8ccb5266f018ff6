"""Boundary predictors: token classifiers that say whether the next token is style."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from transformers import AutoModelForTokenClassification

from tessy_factory.config import PredictorConfig
from tessy_factory.engine.local_model import ModelLoadError, load_pretrained

STYLE = 1

# The context tail first tokenised for a window: characters per context token (a token of
# text holds about 4), and tokens beyond the window whose cut-off first words never reach it.
TAIL_CHARS_PER_TOKEN = 6
TAIL_MARGIN_TOKENS = 8

# (character offset in the chunk, is style), in order.
Labels = list[tuple[int, bool]]


class Predictor(Protocol):
    """What the loop needs of a boundary predictor.

    `causal`: a token's label depends only on the text before it, so labels of a chunk's
    prefix are those of the whole chunk and generation may stop at the first cut.
    """

    causal: bool

    def label_chunks(self, requests: Sequence[tuple[str, str]]) -> list[Labels]:
        """For each (context, chunk): (offset in chunk, is style) of the chunk's tokens or
        words, in order."""
        ...


class BoundaryPredictor:
    """A 2-label token classifier (0 capability, 1 style); position i predicts token i+1."""

    causal = True

    def __init__(self, name: str, path: str, config: PredictorConfig) -> None:
        self.name = name
        self.config = config
        self.tokenizer, self.model = load_pretrained(
            AutoModelForTokenClassification, "boundary predictor", name, path
        )
        if self.model.config.num_labels != 2:
            raise ModelLoadError(
                f"boundary predictor {name!r} has {self.model.config.num_labels} labels; "
                "a boundary predictor needs exactly 2 (capability, style)"
            )
        self.device = self.model.device

    def label_chunk(self, context: str, chunk: str) -> Labels:
        """The labels of one chunk (see `label_chunks`)."""
        return self.label_chunks([(context, chunk)])[0]

    @torch.inference_mode()
    def label_chunks(self, requests: Sequence[tuple[str, str]]) -> list[Labels]:
        """For each predictor token that starts inside a chunk: (offset in chunk, is style).

        The classifier sees the last `context_tokens` tokens of context plus the chunk; the
        requests run as one right-padded batch.
        """
        windows = [self._window(context, chunk) for context, chunk in requests]
        longest = max(len(window.ids) for window in windows)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.tensor(
            [w.ids + [pad] * (longest - len(w.ids)) for w in windows], device=self.device
        )
        mask = torch.tensor(
            [[1] * len(w.ids) + [0] * (longest - len(w.ids)) for w in windows], device=self.device
        )
        style_probs = self.model(input_ids=ids, attention_mask=mask).logits.softmax(-1)
        return [
            window.labels(style_probs[row, :, STYLE].tolist(), self.config.threshold)
            for row, window in enumerate(windows)
        ]

    def _window(self, context: str, chunk: str) -> _Window:
        # Only the context's tail can reach the window: tokenising all of it would cost
        # time in the trace's length at every chunk. The tail doubles until it holds the
        # window's context tokens and a margin, so its cut-off first words never reach them.
        wanted = self.config.context_tokens + TAIL_MARGIN_TOKENS
        chars = wanted * TAIL_CHARS_PER_TOKEN
        while True:
            tail = context[-chars:]
            encoded = self.tokenizer(
                tail + chunk, add_special_tokens=False, return_offsets_mapping=True
            )
            offsets = encoded["offset_mapping"]
            first = next(
                (i for i, (start, _) in enumerate(offsets) if start >= len(tail)), len(offsets)
            )
            if first >= wanted or len(tail) == len(context):
                break
            chars *= 2
        start = max(0, first - self.config.context_tokens)
        return _Window(encoded["input_ids"][start:], offsets[start:], first - start, len(tail))


@dataclass(frozen=True)
class _Window:
    """Predictor tokens of the context tail and the chunk; `first` is the chunk's first."""

    ids: list[int]
    offsets: list[tuple[int, int]]
    first: int
    context_chars: int

    def labels(self, style_prob: list[float], threshold: float) -> Labels:
        # The logits at position i classify token i+1, so the window's first token has none.
        return [
            (self.offsets[i][0] - self.context_chars, style_prob[i - 1] >= threshold)
            for i in range(max(self.first, 1), len(self.ids))
        ]
