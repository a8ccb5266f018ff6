"""Texts to shingles: 64-bit hashes of every run of `size` consecutive words (or tokens) of
each text, for a whole batch of texts at once, with numpy.

A word is a run of ASCII letters, digits and `_`, or of any non-ASCII characters, after the
text is lower-cased: `Hello, World!` has the words `hello` and `world`. Token ids come from
the caller's tokenizer. The hashes are defined here, not by a library, and never change for
a given `HASH_VERSION`: signatures stored for published rows are compared with those of
later builds.

Why hand-written numpy: splitting in Python (`str.split`, a dict from word to hash, numpy for
the shingles) took about three times the CPU of this module on 10k documents of 300 words
(1.6 s against 0.5 s), and this is the hot path of near-duplicate detection; rensa, the
MinHash library, hashes tokens but makes no n-grams, and building shingle strings for it
costs more still.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

import numpy as np

# Bump when a hash below changes: stored signatures carry it in their sketch id.
HASH_VERSION = 1

# Bytes that belong to a word: ASCII letters, digits, `_`, and every byte of a multi-byte
# UTF-8 character (so `café` is one word, and a character is never split).
WORD_BYTES = np.zeros(256, dtype=bool)
WORD_BYTES[list((string.ascii_letters + string.digits + "_").encode())] = True
WORD_BYTES[0x80:] = True
WORD_TABLE = bytes(WORD_BYTES.astype(np.uint8))  # the same, for bytes.translate

# Words are read 8 bytes at a time; LOW_BYTES[k] keeps the low k bytes of a little-endian read.
LOW_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)
MULTIPLIER = np.uint64(0x100000001B3)  # odd, so `h * MULTIPLIER + x` loses no bits of h
TOKEN_SALT = np.uint64(0x5851F42D4C957F2D)  # keeps token id 0 from hashing to 0


def mix(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 values: every input bit affects every output bit."""
    values = values ^ (values >> np.uint64(30))
    values = values * np.uint64(0xBF58476D1CE4E5B9)
    values = values ^ (values >> np.uint64(27))
    values = values * np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


def word_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The hash of every word of `texts`, in order, and how many words each text has."""
    encoded = [text.lower().encode("utf-8") for text in texts]
    # A space before the first text, between texts and after the last (8 of them, so that
    # an 8-byte read at the end of the last word stays inside the buffer).
    joined = b" " + b" ".join(encoded) + b" " * 8
    data = np.frombuffer(joined, dtype=np.uint8)
    # bytes.translate looks the bytes up four times faster than numpy's indexing.
    in_word = np.frombuffer(joined.translate(WORD_TABLE), dtype=np.bool_)
    # The buffer starts and ends outside a word: its edges alternate, a start then an end.
    edges = np.flatnonzero(in_word[:-1] != in_word[1:]) + 1
    starts, ends = edges[0::2], edges[1::2]
    text_starts = np.cumsum([1] + [len(text) + 1 for text in encoded])
    counts = np.diff(np.searchsorted(starts, text_starts))
    return _hash_spans(data, starts, ends), counts


def token_hashes(token_ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """The hash of every token id of every text, in order, and how many each text has."""
    counts = np.fromiter(map(len, token_ids), dtype=np.int64, count=len(token_ids))
    flat = np.fromiter(
        (token for ids in token_ids for token in ids), dtype=np.uint64, count=int(counts.sum())
    )
    return mix(flat ^ TOKEN_SALT), counts


def shingle_hashes(
    units: np.ndarray, counts: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The hash of every run of `size` consecutive `units` inside one text (texts hold
    `counts` units each, in order), and how many runs each text has: a text with fewer than
    `size` units has none."""
    per_text = np.maximum(counts - size + 1, 0)
    windows = len(units) - size + 1
    if windows <= 0:
        return np.zeros(0, dtype=np.uint64), per_text
    hashes = np.zeros(windows, dtype=np.uint64)
    for k in range(size):
        hashes = hashes * MULTIPLIER + units[k : k + windows]
    # A window that starts in the last size - 1 units of a text runs into the next one.
    crossing = (np.cumsum(counts)[:, None] - np.arange(1, size)).ravel()
    inside = np.ones(windows, dtype=bool)
    inside[crossing[(crossing >= 0) & (crossing < windows)]] = False
    return mix(hashes[inside]), per_text


def _hash_spans(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Hash each byte span [start, end) of `data`, 8 bytes per step, all spans at once."""
    # The little-endian uint64 at every byte offset: a view with a stride of one byte.
    reads = np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    lengths = ends - starts
    hashes = mix(_read(reads, starts, lengths))
    offset = 8
    longer = np.flatnonzero(lengths > offset)
    while longer.size:
        chunk = _read(reads, starts[longer] + offset, lengths[longer] - offset)
        hashes[longer] = mix(hashes[longer] * MULTIPLIER + chunk)
        offset += 8
        longer = longer[lengths[longer] > offset]
    return hashes


def _read(reads: np.ndarray, at: np.ndarray, remaining: np.ndarray) -> np.ndarray:
    """The little-endian uint64 at each byte offset `at`, bytes past `remaining` zeroed."""
    return reads[at] & LOW_BYTES[np.minimum(remaining, 8)]
