"""A content hash of each prompt source, taken before a build starts and kept with its run.

A run's config names its sources, not what is in them: a JSONL file edited between two
attempts of a run would otherwise mix prompts of two versions of the file in one dataset.
The hash is recorded on the run's first attempt and a resume whose sources hash otherwise
is refused, naming the source.

A file source hashes its bytes (every byte, whatever `limit` says: cheap, and an edit past
the limit is still an edit). Other sources hash the rows their reader yields, which is what
the build would load: the demo family and HumanEval from the installed code, a dataset
through `datasets`, a query's result. Hashing also proves each source can be read, so a
missing file or a failing query stops the build before its run is recorded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tessy_factory.sources.readers import (
    Source,
    SourceError,
    check_readable,
    read_rows,
    refuse_repeated_labels,
    source_file,
    source_label,
)

READ_BYTES = 1024 * 1024


def source_fingerprints(sources: list[Source], base_dir: Path) -> dict[str, str]:
    """{source label: content hash} of every source; SourceError if one cannot be read, or
    if two are the same source."""
    refuse_repeated_labels(sources)
    return {source_label(source): _fingerprint(source, base_dir) for source in sources}


def _fingerprint(source: Source, base_dir: Path) -> str:
    path = source_file(source, base_dir)
    if path is None:
        return _rows_hash(source, base_dir)
    digest = _file_hash(path, source_label(source))
    # The bytes alone do not show the file is what its kind says (Parquet, columns).
    check_readable(source, base_dir)
    return digest


def _file_hash(path: Path, label: str) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as file:
            while chunk := file.read(READ_BYTES):
                digest.update(chunk)
    except OSError as exc:
        raise SourceError(f"{label}: cannot read {path}: {exc.strerror or exc}") from exc
    return f"sha256:{digest.hexdigest()}"


def _rows_hash(source: Source, base_dir: Path) -> str:
    digest = hashlib.sha256()
    for row in read_rows(source, base_dir):
        record = [row.row, row.fields, row.problem, row.raw]
        # `default=repr`: a query or a dataset may yield values JSON has no type for.
        digest.update(json.dumps(record, sort_keys=True, default=repr).encode())
        digest.update(b"\n")
    return f"sha256:{digest.hexdigest()}"
