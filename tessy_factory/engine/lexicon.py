"""The lexicon boundary predictor: style is where a listed phrase stands, no model needed.

For users without trained predictors. Unlike a trained predictor it cannot anticipate the
next token, so it labels the words the chunk actually holds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tessy_factory.engine.predictor import Labels, Request


def phrase_pattern(phrases: Sequence[str], owner: str) -> re.Pattern[str]:
    """A regex matching any of `phrases` (stripped), the longest where several begin, so
    "Let me think." wins over "Let me"; ValueError naming `owner` if there is none."""
    cleaned = sorted({phrase.strip() for phrase in phrases if phrase.strip()}, key=len)
    if not cleaned:
        raise ValueError(f"{owner}: phrases must hold at least one non-empty phrase")
    return re.compile("|".join(re.escape(phrase) for phrase in reversed(cleaned)))


class LexiconPredictor:
    """Labels each word of a chunk as style when it lies inside one of the phrases."""

    # A phrase completed later relabels the words it began with.
    causal = False

    def __init__(self, name: str, phrases: Sequence[str], context_chars: int = 200) -> None:
        self.name = name
        self.pattern = phrase_pattern(phrases, f"lexicon predictor {name!r}")
        self.context_chars = context_chars

    def new_window(self) -> None:
        """No per-sample state: each chunk is searched with its context's tail."""
        return None

    def label_chunks(self, requests: Sequence[Request]) -> list[Labels]:
        """The labels of each (context, chunk, _), as `label_chunk` gives them."""
        return [self.label_chunk(context, chunk) for context, chunk, _ in requests]

    def label_chunk(self, context: str, chunk: str) -> Labels:
        """(offset in chunk, is style) for each word that starts inside `chunk`."""
        # A phrase may begin in the context and end in the chunk, so search across both.
        tail = context[-self.context_chars :]
        text = tail + chunk
        style = [False] * len(text)
        for match in self.pattern.finditer(text):
            style[match.start() : match.end()] = [True] * (match.end() - match.start())
        return [
            (match.start() - len(tail), style[match.start()])
            for match in re.finditer(r"\S+", text)
            if match.start() >= len(tail)
        ]
