"""Find the program in a generated sample: the last fenced code block of the final answer.

A sample reads "<think>...</think>ANSWER"; code written while thinking is a draft, so only the
answer part after the last "</think>" counts. Fences are parsed with markdown-it (CommonMark),
so indented fences, "~~~" fences and longer backtick fences behave as a Markdown reader expects.
"""

from __future__ import annotations

from markdown_it import MarkdownIt

from tessy_factory.trace_format import THINK_CLOSE

# Info strings that name each language; a block without an info string matches any language.
LANGUAGE_TAGS: dict[str, frozenset[str]] = {
    "python": frozenset({"python", "py", "python3"}),
    "cpp": frozenset({"cpp", "c++", "cxx", "cc"}),
}

_markdown = MarkdownIt("commonmark")


def answer_part(text: str) -> str | None:
    """The text after the last "</think>", or None when the thinking never ended."""
    _, sep, answer = text.rpartition(THINK_CLOSE)
    return answer if sep else None


def extract_program(text: str, language: str = "python") -> str | None:
    """The last code block of the answer tagged `language` (or untagged); None if there is none."""
    answer = answer_part(text)
    if answer is None:
        return None
    tags = LANGUAGE_TAGS.get(language, frozenset({language}))
    program = None
    for token in _markdown.parse(answer):
        if token.type != "fence":
            continue
        info = token.info.split(maxsplit=1)
        if not info or info[0].lower() in tags:
            program = token.content
    return program
