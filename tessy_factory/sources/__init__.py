"""Prompt sourcing: read prompt sources, normalise their rows, load them into DuckDB.

`readers` yields raw rows per source kind (demo, JSONL, Parquet, Hugging Face datasets, DuckDB
queries), `normalise` turns each into a `Prompt` candidate or a `Rejected` row with a reason,
`load` stores both for a run, resumably, and `settle` (after the test check, if any) keeps one
row per prompt_id as the prompt and quarantines the others as duplicates.
"""

from tessy_factory.sources.load import load_sources
from tessy_factory.sources.normalise import (
    InvalidTestsError,
    Prompt,
    Rejected,
    normalise,
    normalise_tests,
    normalise_text,
    prompt_id,
)
from tessy_factory.sources.readers import (
    RawRow,
    SourceError,
    read_rows,
    source_label,
    source_license,
)
from tessy_factory.sources.settle import settle_candidates

__all__ = [
    "InvalidTestsError",
    "Prompt",
    "RawRow",
    "Rejected",
    "SourceError",
    "load_sources",
    "normalise",
    "normalise_tests",
    "normalise_text",
    "prompt_id",
    "read_rows",
    "settle_candidates",
    "source_label",
    "source_license",
]
