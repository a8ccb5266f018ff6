"""A build config whose teacher and student are the miniature models behind servers."""

from __future__ import annotations

from pathlib import Path

from tessy_factory.config import BuildConfig
from tessy_factory.miniature.build import miniature_dir

GENERATION = {"max_total_tokens": 512, "answer_max_tokens": 128}


def served_config(
    servers: dict[str, str],
    models_root: Path,
    build: dict | None = None,
    model_keys: dict | None = None,
    **generation,
) -> BuildConfig:
    """The served miniature teacher and student (role -> API root in `servers`); `build`
    holds further top-level keys, `model_keys` further keys of both models."""
    root = miniature_dir(models_root)
    roles = {
        role: {
            "model": f"miniature:{role}",
            "chunk_tokens": chunk,
            "temperature": 0.3,
            "backend": "openai",
            "base_url": servers[role],
            # A server started with a model directory answers only to that name.
            "served_model": str(root / role),
            "max_retries": 1,
            **(model_keys or {}),
        }
        for role, chunk in (("teacher", 10), ("student", 5))
    }
    return BuildConfig.model_validate(
        {**roles, "generation": {**GENERATION, **generation}, **(build or {})}
    )


def demo_build(root: Path, models_root: Path, prompts: int, **curation) -> dict:
    """Top-level keys of a build of `prompts` demo prompts into a fresh home under `root`
    whose models are `models_root`'s."""
    home = root / "home"
    home.mkdir()
    (home / "models").symlink_to(models_root, target_is_directory=True)
    return {
        "home": str(home),
        "sources": [{"kind": "demo", "count": prompts, "seed": 2026}],
        "curation": curation,
    }
