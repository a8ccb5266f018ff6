"""A test's config as a flow takes it: the flows read a config file, so a test that builds
its config in Python writes it to one first."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml
from pydantic import BaseModel


def config_file(config: BaseModel) -> str:
    """`config` written as YAML beside its home (its `home` must be set); the path."""
    # Only the keys set: a default left out stays a default, as in a hand-written file.
    data = config.model_dump(mode="json", exclude_unset=True)
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]
    path = Path(config.home).parent / f"config-{digest}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)
