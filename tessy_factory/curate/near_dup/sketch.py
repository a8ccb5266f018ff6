"""MinHash signatures and LSH band keys of a batch of texts, and the id of the settings
that made them (two signatures compare only under the same id).

Signatures come from rensa's R-MinHash (Rust), fed the shingle hashes in one flat buffer:
on documents of 200-400 words it takes about a fortieth of the CPU time of a vectorised
numpy MinHash with the same number of permutations (`bench/near_dup.py` measures both).
Band keys are hashed here, not by DuckDB's `hash`, so that they stay the same across DuckDB
versions: stored keys of published rows are joined with those of later builds.
"""

from __future__ import annotations

import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import rensa

from tessy_factory.curate.near_dup import shingles
from tessy_factory.curate.near_dup_config import NearDupText, TextField

# Texts hashed at a time: the byte-level arrays of 2,000 texts of 300 words stay in the CPU's
# caches; 10,000 at a time took half as long again (measured on the bench corpus).
HASH_CHUNK = 2_000


@dataclass(frozen=True)
class Tokenizer:
    """Token ids for `shingle: tokens`. `name` (the tokenizer's model and revision) is part
    of the sketch id, so that signatures of two tokenizers never compare."""

    name: str
    encode: Callable[[list[str]], Sequence[Sequence[int]]]


@dataclass(frozen=True)
class Corpus:
    """The near-duplicate index of one text of one dataset's rows, under one set of
    settings: every published row (all versions) and the rows of the runs building it."""

    repo_id: str
    field: TextField
    settings: NearDupText
    tokenizer: Tokenizer | None = None

    def __post_init__(self) -> None:
        if self.settings.shingle == "tokens" and self.tokenizer is None:
            raise ValueError(f"near_dup.{self.field}.shingle is tokens: a tokenizer must be given")

    @property
    def sketch(self) -> str:
        """What made the signatures and band keys: the hashes' versions and the settings."""
        s = self.settings
        unit = s.shingle if s.shingle == "words" else f"tokens[{self.tokenizer.name}]"
        return (
            f"rminhash{rensa.RMinHash.ALGORITHM_VERSION}.h{shingles.HASH_VERSION}:"
            f"{unit}x{s.shingle_size}:perm{s.num_perm}:seed{s.seed}:bands{s.bands}x{s.rows}"
        )

    def signatures(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """One row of `num_perm` uint32 per text, and whether the text has a shingle at all:
        one with fewer units than `shingle_size` has none, and its row means nothing."""
        parts = [
            self._signatures(texts[start : start + HASH_CHUNK])
            for start in range(0, len(texts), HASH_CHUNK)
        ]
        if not parts:
            return np.zeros((0, self.settings.num_perm), dtype=np.uint32), np.zeros(0, bool)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _signatures(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        s = self.settings
        if s.shingle == "words":
            units, counts = shingles.word_hashes(texts)
        else:
            units, counts = shingles.token_hashes(self.tokenizer.encode(texts))
        hashes, per_text = shingles.shingle_hashes(units, counts, s.shingle_size)
        offsets = np.concatenate(([0], np.cumsum(per_text))).astype(np.uint64)
        matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
            hashes, offsets, s.num_perm, s.seed
        )
        # rensa hands the matrix back only as nested Python lists; array.array takes them in
        # about half the time of np.array, which first works out their shape.
        flat = array.array("I")
        for row in matrix.to_rows():
            flat.extend(row)
        rows = np.frombuffer(flat, dtype=np.uint32).reshape(len(texts), s.num_perm)
        return rows, per_text > 0


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One uint64 key per band of each signature: equal bands give equal keys."""
    values = signatures.reshape(len(signatures), bands, rows).astype(np.uint64)
    keys = np.zeros((len(signatures), bands), dtype=np.uint64)
    for k in range(rows):
        keys = keys * shingles.MULTIPLIER + values[:, :, k]
    return shingles.mix(keys)
