"""Boundary predictors: token classifiers that say whether the next token is style."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
from transformers import AutoModelForTokenClassification, DynamicCache

from tessy_factory.config import PredictorConfig
from tessy_factory.engine.local_model import ModelLoadError, load_pretrained
from tessy_factory.engine.tokens import Encoding, encode, reencode

STYLE = 1

# The context tail first tokenised for a window: characters per context token (a token of
# text holds about 4), and tokens beyond the window whose cut-off first words never reach it.
TAIL_CHARS_PER_TOKEN = 6
TAIL_MARGIN_TOKENS = 8

# (character offset in the chunk, is style), in order.
Labels = list[tuple[int, bool]]


# (context, chunk, the sample's window or None)
Request = tuple[str, str, "PredictorWindow | None"]


class Predictor(Protocol):
    """What the loop needs of a boundary predictor.

    `causal`: a token's label depends only on the text before it, so labels of a chunk's
    prefix are those of the whole chunk and generation may stop at the first cut.
    """

    causal: bool

    def new_window(self) -> PredictorWindow | None:
        """Per-sample state to pass with every request of one sample (None: stateless)."""
        ...

    def label_chunks(self, requests: Sequence[Request]) -> list[Labels]:
        """For each (context, chunk, window): (offset in chunk, is style) of the chunk's
        tokens or words, in order."""
        ...


# A sample's window keeps its start until the context before a chunk holds this many times
# `context_tokens` tokens.
WINDOW_GROWTH = 2


@dataclass
class PredictorWindow:
    """One sample's window of its text for one predictor, kept from chunk to chunk.

    Its start (`anchor`, a character offset in the sample's text) stays put while the text
    grows, so the classifier's keys and values for the tokens it has read stay valid and a
    chunk reads only its new tokens, where a window that slid with every chunk would be read
    whole each time (about as long as a decode step of the bench LM). The context shown is
    therefore `context_tokens` to WINDOW_GROWTH times as many tokens; past that, the window
    moves up to `context_tokens` before the chunk and is read afresh.
    """

    anchor: int = 0
    encoding: Encoding = field(default_factory=Encoding)  # of the text from `anchor`
    values: DynamicCache | None = None
    ids: list[int] = field(default_factory=list)  # the tokens read into `values`
    style: list[float] = field(default_factory=list)  # the style probability at each


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

    def new_window(self) -> PredictorWindow:
        return PredictorWindow()

    def label_chunk(self, context: str, chunk: str) -> Labels:
        """The labels of one chunk, with exactly `context_tokens` of context (see
        `label_chunks`)."""
        return self.label_chunks([(context, chunk, None)])[0]

    @torch.inference_mode()
    def label_chunks(self, requests: Sequence[Request]) -> list[Labels]:
        """For each predictor token that starts inside a chunk: (offset in chunk, is style).

        The classifier sees the chunk after the last `context_tokens` tokens of context, or
        after its sample's window (see `PredictorWindow`). A lone request with a window reads
        only the tokens its window has not read; several run as one right-padded batch.
        """
        windows = [self._window(context, chunk, state) for context, chunk, state in requests]
        state = requests[0][2]
        if len(requests) == 1 and state is not None:
            style_probs = [self._read(state, windows[0].ids)]
        else:
            style_probs = self._classify(windows)
        return [
            window.labels(probs, self.config.threshold)
            for window, probs in zip(windows, style_probs, strict=True)
        ]

    def _classify(self, windows: list[_Window]) -> list[list[float]]:
        """Style probabilities at every position of each window, in one batch."""
        longest = max(len(window.ids) for window in windows)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.tensor(
            [w.ids + [pad] * (longest - len(w.ids)) for w in windows], device=self.device
        )
        mask = torch.tensor(
            [[1] * len(w.ids) + [0] * (longest - len(w.ids)) for w in windows], device=self.device
        )
        style = self.model(input_ids=ids, attention_mask=mask).logits.softmax(-1)[..., STYLE]
        return style.tolist()

    def _read(self, state: PredictorWindow, ids: list[int]) -> list[float]:
        """Style probabilities at every position of `ids` but maybe the last, reading into
        the window's cache only the tokens after those it shares with what it read before.

        The labels need no output of the last position (it classifies the token after
        `ids`), so where only that one is unread nothing runs: a check one token after the
        last, as when each token begins a word, costs no forward pass.
        """
        keep = 0
        while keep < min(len(ids), len(state.ids)) and state.ids[keep] == ids[keep]:
            keep += 1
        if state.values is None or keep == 0:
            state.values = DynamicCache(config=self.model.config)
        elif state.values.get_seq_length() > keep:
            state.values.crop(keep - state.values.get_seq_length())
        del state.ids[keep:], state.style[keep:]
        if keep < len(ids) - 1:
            inputs = torch.tensor([ids[keep:]], device=self.device)
            logits = self.model(input_ids=inputs, cache=state.values, use_cache=True).logits
            state.style += logits[0].softmax(-1)[:, STYLE].tolist()
            state.ids += ids[keep:]
        return state.style

    def _window(self, context: str, chunk: str, state: PredictorWindow | None) -> _Window:
        if state is not None and state.encoding.text:
            text = (context + chunk)[state.anchor :]
            encoding, _ = reencode(self.tokenizer, state.encoding, text)
            window = _Window.of(encoding, len(context) - state.anchor)
            if window.first <= WINDOW_GROWTH * self.config.context_tokens:
                state.encoding = encoding
                return window
        window = self._tail_window(context, chunk)
        if state is not None:
            # The window starts afresh at its first token.
            state.anchor = len(context) - window.context_chars
            state.encoding = Encoding((context + chunk)[state.anchor :], window.ids, window.starts)
            state.values, state.ids, state.style = None, [], []
        return window

    def _tail_window(self, context: str, chunk: str) -> _Window:
        """The last `context_tokens` tokens of context and the chunk, starting at the first."""
        # Only the context's tail can reach the window: tokenising all of it would cost
        # time in the trace's length at every chunk. The tail doubles until it holds the
        # window's context tokens and a margin, so its cut-off first words never reach them.
        wanted = self.config.context_tokens + TAIL_MARGIN_TOKENS
        chars = wanted * TAIL_CHARS_PER_TOKEN
        while True:
            tail = context[-chars:]
            encoded = encode(self.tokenizer, tail + chunk)
            window = _Window.of(encoded, len(tail))
            if window.first >= wanted or len(tail) == len(context):
                break
            chars *= 2
        return window.starting_at(max(0, window.first - self.config.context_tokens))


@dataclass(frozen=True)
class _Window:
    """Predictor tokens of some context and a chunk: where each starts in their text,
    `first` the chunk's first token, `context_chars` the characters before the chunk."""

    ids: list[int]
    starts: list[int]
    first: int
    context_chars: int

    @classmethod
    def of(cls, encoding: Encoding, context_chars: int) -> _Window:
        first = bisect_left(encoding.starts, context_chars)
        return cls(encoding.ids, encoding.starts, first, context_chars)

    def starting_at(self, token: int) -> _Window:
        """The window from its `token`-th token on, its text starting there too."""
        shift = self.starts[token] if token < len(self.starts) else self.context_chars
        return _Window(
            self.ids[token:],
            [start - shift for start in self.starts[token:]],
            self.first - token,
            self.context_chars - shift,
        )

    def labels(self, style_prob: list[float], threshold: float) -> Labels:
        # The logits at position i classify token i+1, so the window's first token has none.
        return [
            (self.starts[i] - self.context_chars, style_prob[i - 1] >= threshold)
            for i in range(max(self.first, 1), len(self.ids))
        ]
