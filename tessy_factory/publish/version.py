"""Dataset versions: how they are named and numbered, which files make one, and the record
of a release.

Both backends publish the bytes from `release_files`, so a version looks the same on the
local hub and on the Hugging Face Hub, and both number versions with `version_after`.
"""

from __future__ import annotations

import datetime
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

VERSION_PATTERN = re.compile(r"^v(\d{4})\.(\d{2})\.(\d{2})-([1-9]\d*)$")

DATA_DIR = "data"
DATA_FILE = f"{DATA_DIR}/train-00000-of-00001.parquet"
DATA_GLOB = f"{DATA_DIR}/train-*.parquet"
CARD_FILE = "README.md"
REPORT_FILE = "report.md"
HTML_REPORT_FILE = "report.html"

# The published row. An explicit schema keeps `messages` a list of structs (what `datasets`
# loads as a list of dicts) and keeps column types stable whatever pandas infers.
ROW_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        (
            "messages",
            pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])),
        ),
        ("prompt_id", pa.string()),
        ("source", pa.string()),
        ("license", pa.string()),
        ("mode", pa.string()),
        ("teacher_model", pa.string()),
        ("student_model", pa.string()),
        ("teacher_token_share", pa.float64()),
        ("n_switches", pa.int64()),
        ("n_tokens", pa.int64()),
        ("verdict", pa.string()),
        ("tests_passed", pa.int64()),
        ("tests_total", pa.int64()),
        ("run_id", pa.string()),
    ]
)


@dataclass(frozen=True)
class Release:
    """A published version: where it went and which commit holds it."""

    repo_id: str
    version: str
    location: str
    commit_sha: str
    n_rows: int


def check_version(version: str) -> str:
    """Return `version` if it has the form vYYYY.MM.DD-N, else raise ValueError."""
    if not VERSION_PATTERN.match(version):
        raise ValueError(
            f"version {version!r}: expected the form vYYYY.MM.DD-N, e.g. v2026.11.27-1"
        )
    return version


def release_message(version: str, run_id: str) -> str:
    """The commit and tag message of a release; it names the run, so a build that crashed
    after pushing can find the version it pushed instead of pushing again."""
    return f"Release {version} of run {run_id}"


def released_run(message: str) -> tuple[str, str] | None:
    """(version, run id) of a release message, or None for any other message."""
    match = re.fullmatch(r"Release (\S+) of run (\S+)", message.strip())
    return (match.group(1), match.group(2)) if match else None


def next_version(existing: Iterable[str], today: datetime.date) -> str:
    """The next version for `today`: -1 for the day's first release, then -2, -3, ..."""
    prefix = f"v{today:%Y.%m.%d}-"
    taken = [
        int(match.group(4))
        for name in existing
        if name.startswith(prefix) and (match := VERSION_PATTERN.match(name))
    ]
    return f"{prefix}{max(taken, default=0) + 1}"


@dataclass(frozen=True)
class RecordedVersion:
    """A version the factory's `releases` table holds for a repo (sql/recorded_versions.sql)."""

    version: str
    commit_sha: str
    # A later release made with --allow-rewrite already reported this version lost.
    reported_lost: bool


class LostVersionsError(ValueError):
    """The target lacks versions the factory published to it: a deleted or replaced repo."""


def version_after(
    repo_id: str,
    recorded: Sequence[RecordedVersion],
    target: Mapping[str, str],
    today: datetime.date,
    *,
    allow_rewrite: bool = False,
) -> tuple[str, list[str]]:
    """The next version of `repo_id`, and the versions its target has lost.

    `target` maps each tag on the target to its commit. Numbering goes on after the highest
    version of the factory's record and the target together, so a number is never given
    twice even when the target lost some. A recorded version the target no longer has, or
    has at another commit, is lost: LostVersionsError, unless `allow_rewrite` (then the caller
    reports the loss) or a rewrite has reported it before.
    """
    lost = sorted(
        {
            mine.version
            for mine in recorded
            if not mine.reported_lost and target.get(mine.version) != mine.commit_sha
        },
        key=_version_order,
    )
    if lost and not allow_rewrite:
        raise LostVersionsError(
            f"dataset repo {repo_id} lost versions this factory published to it: "
            f"{', '.join(lost)} (deleted, replaced or re-tagged); re-run with --allow-rewrite "
            "to publish after them, or use a new publish.repo_id"
        )
    numbered = [mine.version for mine in recorded] + list(target)
    return next_version(numbered, today), lost


def _version_order(version: str) -> tuple[int, ...]:
    # Numerically, so -10 sorts after -9; a recorded version passed check_version.
    return tuple(int(part) for part in VERSION_PATTERN.match(version).groups())


def rows_to_parquet(rows: pd.DataFrame) -> bytes:
    """Serialise published rows to Parquet bytes; the columns must be exactly ROW_SCHEMA's."""
    expected = set(ROW_SCHEMA.names)
    missing = sorted(expected - set(rows.columns))
    unexpected = sorted(set(rows.columns) - expected)
    if missing or unexpected:
        raise ValueError(f"rows: missing columns {missing}, unexpected columns {unexpected}")
    table = pa.Table.from_pandas(rows[ROW_SCHEMA.names], schema=ROW_SCHEMA, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def release_files(rows: pd.DataFrame, card: str, report: str, html_report: str) -> dict[str, bytes]:
    """The full snapshot of one version: repository path -> file contents."""
    return {
        DATA_FILE: rows_to_parquet(rows),
        CARD_FILE: card.encode("utf-8"),
        REPORT_FILE: report.encode("utf-8"),
        HTML_REPORT_FILE: html_report.encode("utf-8"),
    }
