"""Degenerate-repetition detection: a short fragment repeated many times in a row.

Small or badly prompted models fall into loops ("Wait, Wait, Wait, ..."); a loop never
closes the thinking block and burns the length cap. The reference implementation stops a
sample when a 3-50 word fragment repeats 8 times in a row in the last 1,000 characters.
"""

from __future__ import annotations

from tessy_factory.config import RepetitionConfig


def repeated_fragment(text: str, rule: RepetitionConfig) -> str | None:
    """The fragment that `text` ends with `rule.repeats` copies of, or None.

    Called after every turn, so checking the end of the text is enough: a growing loop
    reaches the end of the text as soon as it forms.
    """
    words = text[-rule.window_chars :].split()
    for size in range(rule.min_words, rule.max_words + 1):
        span = size * rule.repeats
        if span > len(words):
            break
        fragment = words[-size:]
        if words[-span:] == fragment * rule.repeats:
            return " ".join(fragment)
    return None
