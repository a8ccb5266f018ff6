"""Token ids of a text that grows at its end, re-encoding only the end.

Every turn of the loop hands a model the whole shared text so far, which differs from the
last turn's only near its end (the kept pieces, the other model's words, the closed
thinking). Tokenising all of it again costs time in the trace's length at every turn (about
10 ms at 4k tokens here, more than a decode step of a small model), so only a tail is
re-encoded: from the first word start at least `RESYNC_TOKENS` tokens before the first
changed character. Tokenizers
offer no incremental encoding, hence this module.

Re-encoding from a token's start gives the whole text's tokens only where tokenisation
starts afresh there (a pre-tokenizer split, as at most spaces). The tail therefore begins a
few unchanged tokens early, and must encode them exactly as before; where it does not, the
whole text is encoded instead, so the result is always what encoding the whole text gives
wherever tokenisation re-synchronises within `RESYNC_TOKENS` tokens.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerBase

RESYNC_TOKENS = 8
# How far back past RESYNC_TOKENS a tail may start, to start at a word.
MAX_BACKTRACK_TOKENS = 64
# Texts counted per call of a fast tokenizer: bounds the encodings held at once.
COUNT_BATCH = 1_000


@dataclass(frozen=True)
class Encoding:
    """A text's token ids and the character offset where each token starts."""

    text: str = ""
    ids: list[int] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)


def count_tokens(tokenizer: PreTrainedTokenizerBase, text: str) -> int:
    """The number of `tokenizer`'s tokens in `text`, without special tokens."""
    backend = _plain_backend(tokenizer)
    if backend is not None:
        # Without the Python wrapping of the tokenizer's call, which costs as much again
        # for a served model's prefix, counted before every request it sends.
        return len(backend.encode(text, add_special_tokens=False))
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def count_tokens_each(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> list[int]:
    """The number of `tokenizer`'s tokens in each of `texts`, as `count_tokens` counts them."""
    backend = _plain_backend(tokenizer)
    if backend is None:
        return [count_tokens(tokenizer, text) for text in texts]
    # A fast tokenizer's own Rust tokenizer encodes a batch on every core, and its encodings
    # give their length without the ids becoming Python lists: one call per text cost
    # 100k rows' metrics about a minute (bench/curation.py). `encode_batch_fast` skips the
    # character offsets, which counting does not need: 1.6x faster on 5k thinking texts.
    counts: list[int] = []
    for start in range(0, len(texts), COUNT_BATCH):
        batch = list(texts[start : start + COUNT_BATCH])
        counts += map(len, backend.encode_batch_fast(batch, add_special_tokens=False))
    return counts


def encode(tokenizer: PreTrainedTokenizerBase, text: str, offset: int = 0) -> Encoding:
    """`text` tokenised whole; token starts are shifted by `offset`."""
    backend = _plain_backend(tokenizer)
    if backend is not None:
        # A fast tokenizer's own Rust tokenizer, which its call runs after Python wrapping
        # that costs as much again for the few tokens of a re-encoded tail: paid at every
        # boundary check of a TESSY turn.
        encoded = backend.encode(text, add_special_tokens=False)
        ids, offsets = encoded.ids, encoded.offsets
    else:
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
    return Encoding(text, ids, [offset + start for start, _ in offsets])


def reencode(tokenizer: PreTrainedTokenizerBase, old: Encoding, text: str) -> tuple[Encoding, int]:
    """`text`'s encoding, and how many leading tokens it shares with `old` for certain."""
    changed = _common_prefix_length(old.text, text)
    # Tokens before `intact` end at or before the first changed character.
    intact = bisect_right(old.starts, changed) - 1
    anchor = _word_start_at_or_before(old, intact - RESYNC_TOKENS)
    if anchor <= 0:
        return encode(tokenizer, text), 0
    tail = encode(tokenizer, text[old.starts[anchor] :], offset=old.starts[anchor])
    overlap = slice(0, intact - anchor)
    if (
        tail.ids[overlap] != old.ids[anchor:intact]
        or tail.starts[overlap] != old.starts[anchor:intact]
    ):
        return encode(tokenizer, text), 0
    return Encoding(text, old.ids[:anchor] + tail.ids, old.starts[:anchor] + tail.starts), intact


def _word_start_at_or_before(encoding: Encoding, index: int) -> int:
    """The last token at or before `index` that begins a word (whitespace precedes it, or it
    is whitespace), or 0 when none does within MAX_BACKTRACK_TOKENS. Tokenisation starts
    afresh at words, while a tail that starts inside a word (at a subword token) would be
    cut into other tokens and fail the overlap check."""
    text, starts = encoding.text, encoding.starts
    for token in range(index, max(index - MAX_BACKTRACK_TOKENS, 0), -1):
        start = starts[token]
        if text[start - 1].isspace() or text[start].isspace():
            return token
    return 0


def _common_prefix_length(a: str, b: str) -> int:
    """The length of the longest common prefix of `a` and `b`."""
    if b.startswith(a):
        return len(a)
    # Binary search over prefix lengths: each test is one C-level comparison, where a loop
    # over characters in Python would cost time in the text's length.
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if b.startswith(a[:middle]):
            low = middle
        else:
            high = middle - 1
    return low


def _plain_backend(tokenizer: PreTrainedTokenizerBase) -> Tokenizer | None:
    """A fast tokenizer's Rust tokenizer when it encodes as the tokenizer's call does (no
    truncation or padding set on it), else None."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and backend.truncation is None and backend.padding is None:
        return backend
    return None
