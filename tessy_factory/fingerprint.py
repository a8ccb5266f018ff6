"""What in a configuration shapes the data: its data view, the hash of that, and the keys in
which two configurations differ.

A run is keyed by its configuration's fingerprint, so that a resumed run never mixes data
written under two configurations. Keys that cannot change the data (worker counts, timeouts,
where a server listens, where the token is read from) are marked `RUNTIME` on their field and
left out: a build resumed with more workers or a longer timeout is the same build.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

# Put in a field's `json_schema_extra`; the Prefect UI's form shows it too.
RUNTIME = {"runtime": True}

# Values longer than this are cut short where a refusal shows them.
SHOWN_CHARS = 60


def is_runtime(field: FieldInfo) -> bool:
    """Whether a config field is marked as one that cannot change the data."""
    extra = field.json_schema_extra
    return isinstance(extra, dict) and extra.get("runtime") is True


def data_view(value: Any) -> Any:
    """`value` as JSON data without its runtime fields, at any depth."""
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        return {
            name: data_view(getattr(value, name))
            for name, field in fields.items()
            if not is_runtime(field)
        }
    if isinstance(value, list | tuple):
        return [data_view(item) for item in value]
    if isinstance(value, dict):
        return {str(key): data_view(item) for key, item in value.items()}
    return to_jsonable_python(value)


def fingerprint(config: BaseModel) -> str:
    """A stable hash of everything in `config` that shapes the data."""
    payload = json.dumps(data_view(config), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def differing_keys(before: Any, after: Any, path: str = "") -> list[str]:
    """The dotted keys (`generation.seed`, `sources[0].path`) whose values differ, each
    with its two values: `generation.seed (0 -> 1)`."""
    if isinstance(before, dict) and isinstance(after, dict):
        keys = sorted(set(before) | set(after))
        return [
            change
            for key in keys
            for change in differing_keys(
                before.get(key), after.get(key), f"{path}.{key}" if path else key
            )
        ]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            change
            for index, (old, new) in enumerate(zip(before, after, strict=True))
            for change in differing_keys(old, new, f"{path}[{index}]")
        ]
    if before == after:
        return []
    return [f"{path or '(top level)'} ({_shown(before)} -> {_shown(after)})"]


def config_changes(stored: str, config: BaseModel) -> list[str]:
    """The data keys in which `config` differs from a run's stored config (JSON)."""
    try:
        before = type(config).model_validate_json(stored)
    except ValidationError as exc:
        # A config stored by an older factory whose keys have since been renamed.
        return [f"(the stored configuration no longer validates: {exc.errors()[0]['msg']})"]
    return differing_keys(data_view(before), data_view(config))


def source_changes(stored: dict[str, str], now: dict[str, str]) -> list[str]:
    """The sources of both that hash otherwise now (a source added or removed is a change
    of the config, reported by `config_changes`)."""
    return [
        f"source {label} changed its content ({stored[label][:19]} -> {now[label][:19]})"
        for label in sorted(set(stored) & set(now))
        if stored[label] != now[label]
    ]


def _shown(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."
