"""Near-duplicate settings: MinHash LSH over a row's prompt and, separately, its response.

Meant to sit in the build config as `curation.near_dup`. Kept apart from the engine
(`tessy_factory.curate.near_dup`) so that reading a config needs no hashing library.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tessy_factory.strict import Strict

# The texts of a row that near-duplicate detection can compare.
TextField = Literal["prompt", "response"]


class NearDupText(Strict):
    """MinHash LSH settings for one text of a row. Two rows are near-duplicates when the
    estimated Jaccard similarity of their shingle sets reaches `threshold`; LSH finds the
    candidates, rows whose signatures agree on all `rows` values of at least one of `bands`
    bands. Every key but `enabled` and `threshold` shapes the stored signatures: changing
    one starts a new index, and rows published before must be hashed again to be compared.
    """

    enabled: bool = Field(True, description="Drop near-duplicates of this text.")
    shingle: Literal["words", "tokens"] = Field(
        "words",
        description="Unit of a shingle: words (runs of letters, digits and _, case ignored) "
        "or the token ids of the tokenizer the caller passes in (a build: the student's).",
    )
    shingle_size: int = Field(5, ge=1, le=64, description="Units per shingle.")
    num_perm: int = Field(128, ge=1, le=1024, description="MinHash signature length.")
    bands: int = Field(16, ge=1, description="LSH bands; bands x rows must equal num_perm.")
    rows: int = Field(8, ge=1, description="Signature values per LSH band.")
    threshold: float = Field(
        0.8, gt=0.0, le=1.0, description="Estimated Jaccard similarity that makes a near-duplicate."
    )
    seed: int = Field(1, ge=0, lt=2**64, description="Seed of the MinHash permutations.")

    @model_validator(mode="after")
    def _bands_cover_signature(self) -> NearDupText:
        # Bands must tile the signature exactly: a slot left out weakens recall unseen.
        if self.bands * self.rows != self.num_perm:
            raise ValueError(
                f"bands ({self.bands}) x rows ({self.rows}) = {self.bands * self.rows} "
                f"must equal num_perm ({self.num_perm})"
            )
        return self


class NearDupConfig(Strict):
    """Near-duplicate dedup of the kept rows, against each other and against every row
    already published to the same dataset, each text with its own settings."""

    prompt: NearDupText = Field(
        default_factory=lambda: NearDupText(enabled=False),
        description="The prompt: off by default, since all samples of a prompt share it "
        "(on, a dataset keeps one row per near-identical prompt).",
    )
    response: NearDupText = Field(
        default_factory=NearDupText, description="The generated response (thinking and answer)."
    )

    def enabled(self) -> dict[TextField, NearDupText]:
        """The texts to check, by name, in the order they are checked."""
        texts: dict[TextField, NearDupText] = {"prompt": self.prompt, "response": self.response}
        return {name: text for name, text in texts.items() if text.enabled}
