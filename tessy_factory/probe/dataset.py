"""Read a published dataset version back, from the local hub or the Hugging Face Hub, and
split its rows by generation mode (the probe's training sets)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from huggingface_hub import HfApi

from tessy_factory.probe.config import LATEST, DatasetRef
from tessy_factory.publish import hub, local_hub
from tessy_factory.publish.version import DATA_DIR, VERSION_PATTERN


class VersionNotFound(ValueError):
    """The dataset has no such version (or no version at all)."""


@dataclass(frozen=True)
class Version:
    """One published version's rows, as the parquet files hold them."""

    repo_id: str
    version: str
    rows: pd.DataFrame

    def modes(self) -> list[str]:
        """The generation modes the version has rows of, in order of first appearance."""
        return list(dict.fromkeys(self.rows["mode"]))

    def rows_of(self, mode: str) -> pd.DataFrame:
        return self.rows[self.rows["mode"] == mode].reset_index(drop=True)


def resolve_version(ref: DatasetRef, hub_root: Path) -> str:
    """The name of `ref`'s version (its newest for `latest`), its rows left unread;
    VersionNotFound naming the versions there are."""
    if ref.target == "local":
        versions = local_hub.existing_versions(hub_root, ref.repo_id)
    else:
        versions = list(hub.tag_commits(ref.repo_id, _token(ref)))
    versions = sorted((v for v in versions if VERSION_PATTERN.match(v)), key=_order)
    version = versions[-1] if ref.version == LATEST and versions else ref.version
    if version not in versions:
        raise VersionNotFound(
            f"dataset {ref.repo_id} ({ref.target}): no version {ref.version!r}; "
            f"versions: {', '.join(versions) or 'none'}"
        )
    return version


def _token(ref: DatasetRef) -> str | None:
    """The Hub token from `ref.token_env`; None for the local hub or where it is unset."""
    return os.environ.get(ref.token_env) if ref.target == "hub" else None


def read_version(ref: DatasetRef, hub_root: Path) -> Version:
    """The rows of `ref`'s version (its newest for `latest`); VersionNotFound naming the
    versions there are."""
    version = resolve_version(ref, hub_root)
    with tempfile.TemporaryDirectory(prefix="tessy-probe-") as scratch:
        if ref.target == "local":
            root = local_hub.checkout_version(hub_root, ref.repo_id, version, Path(scratch) / "v")
        else:
            # HfApi's, as publishing uses: it takes the endpoint ($HF_ENDPOINT) HfApi does.
            root = Path(
                HfApi(token=_token(ref)).snapshot_download(
                    ref.repo_id,
                    repo_type="dataset",
                    revision=version,
                    allow_patterns=[f"{DATA_DIR}/*"],
                    local_dir=scratch,
                )
            )
        files = sorted((root / DATA_DIR).glob("*.parquet"))
        rows = pd.concat([pd.read_parquet(file) for file in files], ignore_index=True)
    return Version(ref.repo_id, version, rows)


def _order(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in VERSION_PATTERN.match(version).groups())
