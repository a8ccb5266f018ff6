"""Decontamination settings: which evaluation sets a build's prompts and solutions must not
overlap, how overlap is measured, and what happens to a contaminated row.

The build config's `curation.decontamination`. Kept apart from `curate/decontam.py` so that
reading a config reads no evaluation set.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from tessy_factory.strict import Strict


class EvalFile(Strict):
    """A local evaluation set: one item per row of a JSONL or Parquet file."""

    name: str = Field(
        pattern=r"^[\w.-]+$",
        description="The benchmark's name in the drop ledger (`name:item-id`).",
    )
    kind: Literal["jsonl", "parquet"] = Field(description="File format.")
    path: str = Field(description="Path of the file, relative to the config's directory.")
    id_field: str = Field("id", description="Field holding each item's id.")
    text_fields: list[str] = Field(
        default_factory=lambda: ["prompt"],
        min_length=1,
        description="Fields whose text a row must not overlap (e.g. prompt, solution).",
    )


class DecontaminationConfig(Strict):
    """Drop (or flag) rows whose prompt or solution overlaps an evaluation set."""

    enabled: bool = Field(True, description="Check rows against the evaluation sets.")
    n: int = Field(
        13, ge=3, le=64, description="Words per n-gram; one shared n-gram is an overlap."
    )
    humaneval: bool = Field(
        True, description="Check against HumanEval (prompts and canonical solutions), offline."
    )
    eval_files: list[EvalFile] = Field(
        default_factory=list, description="Local evaluation sets, checked as well."
    )
    action: Literal["drop", "flag"] = Field(
        "drop",
        description="drop: a contaminated row is not published; flag: it is, marked in the "
        "drop ledger and counted in the report.",
    )

    @field_validator("eval_files")
    @classmethod
    def _names_unique(cls, files: list[EvalFile]) -> list[EvalFile]:
        # The ledger names an item by benchmark and id: two sets of one name would blur it.
        names = [f.name for f in files]
        if len(set(names)) != len(names) or "humaneval" in names:
            raise ValueError("eval file names must be distinct, and not humaneval")
        return files
