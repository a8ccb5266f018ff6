"""Random windows of consecutive words cut from thinking traces: a predictor's training texts.

An annotator labels a window at a time, and a short window keeps its answer short and its
phrases easy to find again; the reference cuts about 10k windows of 60 words.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Window:
    """`text` is the trace at index `trace` from character `start` on."""

    trace: int
    start: int
    text: str


def cut_windows(traces: Sequence[str], words: int, count: int, seed: int) -> list[Window]:
    """`count` windows of `words` consecutive whitespace-separated words, the same for a seed.

    Every possible window is equally likely: a trace is picked in proportion to its number
    of window starts, then a start word uniformly. A trace of fewer words gives one window,
    the whole trace stripped; empty and whitespace-only traces give none. Windows are drawn
    with replacement, so they may repeat, as they must once `count` exceeds the possible
    windows. A window's text keeps the trace's own whitespace between its words.
    """
    if words < 1:
        raise ValueError(f"words per window must be at least 1, got {words}")
    if count < 0:
        raise ValueError(f"window count must not be negative, got {count}")
    # Counted with str.split, which is cheaper and splits at the same whitespace as WORD.
    starts = [_window_starts(len(trace.split()), words) for trace in traces]
    if not any(starts):
        raise ValueError(f"no trace has a word to cut windows from ({len(traces)} traces given)")
    rng = random.Random(seed)
    picked = rng.choices(range(len(traces)), weights=starts, k=count)
    draws = [(trace, rng.randrange(starts[trace])) for trace in picked]
    return _cut(traces, draws, words)


def _window_starts(trace_words: int, words: int) -> int:
    """How many windows a trace of `trace_words` words holds: a short one still holds one."""
    return max(1, trace_words - words + 1) if trace_words else 0


def _cut(traces: Sequence[str], draws: list[tuple[int, int]], words: int) -> list[Window]:
    """The window of each (trace, first word), in the order drawn."""
    # Word bounds of one trace at a time: all traces' at once could exceed memory.
    firsts_by_trace: defaultdict[int, list[tuple[int, int]]] = defaultdict(list)
    for order, (trace, first) in enumerate(draws):
        firsts_by_trace[trace].append((order, first))
    windows: dict[int, Window] = {}
    for trace, firsts in firsts_by_trace.items():
        bounds = [match.span() for match in WORD.finditer(traces[trace])]
        for order, first in firsts:
            start = bounds[first][0]
            end = bounds[min(first + words, len(bounds)) - 1][1]
            windows[order] = Window(trace, start, traces[trace][start:end])
    return [windows[order] for order in range(len(draws))]
