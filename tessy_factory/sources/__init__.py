"""Prompt sourcing: read prompt sources, normalise their rows, load them into DuckDB.

`readers` yields raw rows per source kind (demo, JSONL, Parquet, Hugging Face datasets, DuckDB
queries), `normalise` turns each into a `Prompt` or a `Rejected` row with a reason, and
`load` stores both for a run, resumably.
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
    "source_label",
    "source_license",
]
