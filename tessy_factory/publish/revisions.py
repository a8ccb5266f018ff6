"""The exact revision of every model a build used, for its manifest: the Hub commit of a Hub
id, a content hash of a local directory (miniature models, registered predictors, paths).

A Hub id's commit is the one the local Hugging Face cache holds for `main`, which is what
transformers loaded; only when the cache has none is the Hub asked (unless offline).

They are taken when a build first loads its models and kept with the run, so the manifest
names what wrote the samples, not what is on disk at publish time; a resumed build whose
models changed since is refused rather than mixing samples of two models.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import duckdb
from huggingface_hub import HfApi, constants, scan_cache_dir
from huggingface_hub.errors import CacheNotFound

from tessy_factory.config import LEXICON, BuildConfig
from tessy_factory.db import sql
from tessy_factory.miniature.build import resolve_model
from tessy_factory.predictors.registry import REGISTERED, registered_path
from tessy_factory.publish.hub import HUB_ERRORS

READ_BYTES = 1024 * 1024
Revisions = dict[str, dict[str, str | None]]


class ModelsChanged(RuntimeError):
    """A resumed build's models are not the ones its earlier samples were written with."""


def settle_revisions(
    run_id: str, config: BuildConfig, models_root: Path, con: duckdb.DuckDBPyConnection
) -> Revisions:
    """The revisions of the run's models: stored with the run the first time; ModelsChanged,
    naming each model that differs, when a later attempt finds others."""
    now = model_revisions(config, models_root, con)
    before = stored_revisions(run_id, con)
    if before is None:
        con.execute(sql("run_models_set"), [json.dumps(now), run_id])
        return now
    changed = [
        f"{place} ({before.get(place, {}).get('revision')} -> {found['revision']})"
        for place, found in now.items()
        if before.get(place, {}).get("revision") != found["revision"]
    ]
    if changed:
        raise ModelsChanged(
            f"run {run_id}: models changed since its first samples were written: "
            f"{'; '.join(changed)}. Restore them, or start a new run (no --run-id)"
        )
    return before


def stored_revisions(run_id: str, con: duckdb.DuckDBPyConnection) -> Revisions | None:
    """The revisions kept with the run when it first loaded its models, if it did."""
    row = con.execute(sql("run_models_get"), [run_id]).fetchone()
    return json.loads(row[0]) if row and row[0] else None


def model_revisions(
    config: BuildConfig, models_root: Path, con: duckdb.DuckDBPyConnection
) -> Revisions:
    """Each model the build names, by its place in the config: the reference as written and
    its revision (`sha256:...` of a directory, or a Hub commit; None, with a note, when it
    cannot be known). Each directory is hashed once."""
    found: dict[tuple[str, bool], dict[str, str | None]] = {}
    revisions = {}
    for place, reference, predictor in _references(config):
        key = (reference, predictor)
        if key not in found:
            found[key] = _revision(reference, predictor, models_root, con)
        revisions[place] = found[key]
    return revisions


def _references(config: BuildConfig) -> list[tuple[str, str, bool]]:
    """(place in the config, model reference, whether it is a predictor)."""
    references = []
    for role in ("teacher", "student"):
        model = getattr(config, role)
        references.append((role, model.model, False))
        if model.backend == "openai" and model.tokenizer:
            references.append((f"{role}.tokenizer", model.tokenizer, False))
        references.append((f"{role}_predictor", getattr(config, f"{role}_predictor").model, True))
    return references


def _revision(
    reference: str, predictor: bool, models_root: Path, con: duckdb.DuckDBPyConnection
) -> dict[str, str | None]:
    if predictor and reference == LEXICON:
        return {"reference": reference, "revision": None, "note": "no model"}
    if predictor and reference.startswith(REGISTERED):
        path = registered_path(con, reference)
    else:
        path = Path(resolve_model(reference, models_root, predictor=predictor))
    if path.is_dir():
        return {"reference": reference, "revision": directory_hash(path)}
    commit, note = hub_commit(reference)
    return {"reference": reference, "revision": commit, **({"note": note} if note else {})}


def directory_hash(root: Path) -> str:
    """`sha256:` of every file under `root` (symbolic links followed): each relative name,
    its size and its bytes, in name order, so the same files give the same hash anywhere."""
    digest = hashlib.sha256()
    files = []
    for folder, _, names in os.walk(root, followlinks=True):
        files += [Path(folder, name) for name in names]
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        name = path.relative_to(root).as_posix().encode()
        digest.update(len(name).to_bytes(8, "big") + name)
        digest.update(path.stat().st_size.to_bytes(8, "big"))
        with path.open("rb") as data:
            while chunk := data.read(READ_BYTES):
                digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def hub_commit(repo_id: str) -> tuple[str | None, str | None]:
    """The commit of `repo_id`'s `main` in the local Hugging Face cache, else on the Hub;
    (None, why) when neither can say."""
    try:
        cached = scan_cache_dir(constants.HF_HUB_CACHE).repos
    except CacheNotFound:
        cached = frozenset()
    for repo in cached:
        if repo.repo_id == repo_id and repo.repo_type == "model":
            for revision in repo.revisions:
                if "main" in revision.refs:
                    return revision.commit_hash, None
    if constants.HF_HUB_OFFLINE:
        return None, "not in the local Hugging Face cache, and the Hub is offline"
    try:
        return HfApi().model_info(repo_id).sha, None
    except HUB_ERRORS as exc:
        return None, f"the Hub did not say: {exc}"
