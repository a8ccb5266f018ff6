"""Style spans of a window: asked of an LLM annotator, or found from a list of phrases.

The annotator copies out a window's style phrases as a JSON array. Its answer is kept only
if every phrase is found verbatim, in order, so that labels never rest on text the window
does not hold: `parse_annotation` turns an answer into character spans or says why not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from tessy_factory.engine.lexicon import phrase_pattern
from tessy_factory.engine.text_model import TextModel
from tessy_factory.trace_format import THINK_CLOSE

ANNOTATION_PROMPT = """\
Below is a passage from someone's reasoning. Find the phrases in it that only link the \
steps or set the tone, and carry none of the reasoning itself:
- transitions and signposts, such as "to begin with", "next", "for example", "so";
- hesitation and filler, such as "Wait", "Hmm, let me think", "um";
- attitude, such as "I guess", "that looks right", "Oh nice".
Leave out everything that does the work: facts, claims, code, formulas, numbers and the \
steps of the solution.

Copy each phrase exactly as it is written in the passage, character for character, in the \
order in which it appears. Answer with a JSON array of strings and nothing else, for \
example ["Hmm,", "for example"]. If the passage has no such phrase, answer [].

<passage>
{text}
</passage>"""

FENCED = re.compile(r"```(?:json)?(.*?)```", re.DOTALL | re.IGNORECASE)
EXCERPT_CHARS = 60


class AnnotationRejected(ValueError):
    """An annotator's answer that cannot be used; the message says why."""


def parse_annotation(answer: str, window: str) -> list[tuple[int, int]]:
    """The (start, end) character spans in `window` of the phrases `answer` lists, in order.

    Lenient about wrapping: any thinking up to `</think>` is dropped, and a fenced block's
    content (the last block's) is read. Strict about content: a JSON array of non-empty
    strings, each found verbatim (stripped) after the previous one. Items count from 0.
    Raises AnnotationRejected naming the first problem.
    """
    phrases = _phrases(_unwrap(answer))
    spans: list[tuple[int, int]] = []
    for index, phrase in enumerate(phrases):
        start = window.find(phrase, spans[-1][1] if spans else 0)
        if start < 0:
            raise AnnotationRejected(
                f"phrase {index} not found verbatim after the previous one: {_excerpt(phrase)!r}"
            )
        spans.append((start, start + len(phrase)))
    return spans


def _unwrap(answer: str) -> str:
    """The JSON text of an answer: after any thinking, inside the last fence if there is one."""
    # Reasoning models think before they answer; their thinking may quote other arrays.
    text = answer.rpartition(THINK_CLOSE)[2]
    fenced = FENCED.findall(text)
    return (fenced[-1] if fenced else text).strip()


def _phrases(text: str) -> list[str]:
    """The stripped strings of a JSON array of non-empty strings."""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        raise AnnotationRejected(f"not JSON: {_excerpt(text)!r}") from None
    if not isinstance(parsed, list):
        raise AnnotationRejected("not a JSON array")
    for index, item in enumerate(parsed):
        if not isinstance(item, str):
            raise AnnotationRejected(f"item {index} is not a string")
        if not item.strip():
            raise AnnotationRejected(f"item {index} is empty")
    return [item.strip() for item in parsed]


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "..."


class LexiconAnnotator:
    """The offline annotator: style is wherever one of the listed phrases stands."""

    def __init__(self, phrases: Sequence[str]) -> None:
        self.pattern = phrase_pattern(phrases, "lexicon annotator")

    def annotate(self, window: str) -> list[tuple[int, int]]:
        """The (start, end) spans of the phrases in `window`, in order, none overlapping."""
        return [match.span() for match in self.pattern.finditer(window)]


class ModelAnnotator:
    """Asks a generating model to annotate a window, with `ANNOTATION_PROMPT`."""

    def __init__(self, model: TextModel, max_new_tokens: int = 512) -> None:
        self.model = model
        self.max_new_tokens = max_new_tokens

    async def answer(self, window: str, seed: int) -> str:
        """The model's raw answer for `window`, to be read with `parse_annotation`."""
        prompt = self.model.prompt_text(ANNOTATION_PROMPT.format(text=window))
        continuation = await self.model.complete(
            prompt, self.max_new_tokens, self.model.new_cache(), seed
        )
        return continuation.text
