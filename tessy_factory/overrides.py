"""Overrides: a few keys changed on top of a config file, without copying the file.

A deployment or a command names its config file and may pass `overrides`, a mapping whose
keys are dotted (`generation.max_total_tokens`) or nested (`{"generation": {...}}`). They are
deep-merged into the file's mapping: a mapping merges key by key, anything else (a number, a
list, null) replaces what the file has. Unknown keys are left for the config model to refuse,
which names their dotted path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class OverrideError(ValueError):
    """An override key is malformed (not a string, an empty part)."""


def nested(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`overrides` with every dotted key spelled out as nested mappings, in order."""
    result: dict[str, Any] = {}
    for key, value in overrides.items():
        if not isinstance(key, str) or not all(key.split(".")):
            raise OverrideError(f"overrides: {key!r} is not a key; use a.b.c or nested mappings")
        branch = nested(value) if isinstance(value, Mapping) else value
        for part in reversed(key.split(".")):
            branch = {part: branch}
        result = merged(result, branch)
    return result


def merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """`base` deep-merged with `changes`: mappings key by key, anything else replaced."""
    result = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result
