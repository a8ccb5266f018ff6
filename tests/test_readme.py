"""The README is the user's guide: its config table and commands must match the code."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from tessy_factory.config import BuildConfig
from tessy_factory.predictors.config import (
    AnnotatorConfig,
    PredictorTrainingConfig,
    TraceSource,
    TrainingConfig,
    WindowConfig,
)
from tessy_factory.probe.config import ProbeConfig

README = (Path(__file__).parent.parent / "README.md").read_text()


def leaf_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += leaf_keys(annotation, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


def test_every_config_key_is_documented():
    documented = set(re.findall(r"^\| `([\w.]+)` \|", README, flags=re.MULTILINE))
    assert set(leaf_keys(BuildConfig)) <= documented


def test_quickstart_commands_exist_and_ci_runs_the_test_command():
    root = Path(__file__).parent.parent
    assert "scripts/demo.sh" in README and "scripts/test.sh" in README
    assert (root / "scripts/demo.sh").stat().st_mode & 0o111
    assert "scripts/test.sh" in (root / ".ci/run").read_text()


def test_every_predictor_training_key_is_documented():
    documented = set(re.findall(r"^\| `([\w.*]+)` \|", README, flags=re.MULTILINE))
    # Model and sampling sections take a build's model and generation keys, documented above.
    keys = {f"windows.{key}" for key in leaf_keys(WindowConfig)}
    keys |= {f"annotator.{key}" for key in leaf_keys(AnnotatorConfig)}
    keys |= {f"training.{key}" for key in leaf_keys(TrainingConfig)}
    keys |= {f"teacher.traces.{key}" for key in TraceSource.model_fields}
    keys |= {"name", "home", "sources", "sampling", "teacher.chunk_tokens", "student.*"}
    assert keys <= documented
    assert set(PredictorTrainingConfig.model_fields) == {
        "name",
        "home",
        "sources",
        "teacher",
        "student",
        "sampling",
        "windows",
        "annotator",
        "training",
    }


def test_every_probe_key_is_documented():
    documented = set(re.findall(r"^\| `([\w.]+)` \|", README, flags=re.MULTILINE))
    # These sections take a build's keys, documented with the build's.
    shared = ("student.", "verification.", "evaluation.generation.")
    keys = {key for key in leaf_keys(ProbeConfig) if not key.startswith(shared)}
    keys |= {"student", "verification", "evaluation.generation"}
    assert keys <= documented
