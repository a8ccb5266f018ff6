"""The downstream probe of a published dataset version: per generation mode, a fresh copy of
the student fine-tuned on that mode's rows and judged on held-out problems, beside the
untrained student (the paper's Table 1)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from tasks.probing import (
    finished_modes,
    load_evaluator,
    probe_mode,
    read_dataset_version,
    read_eval_problems,
    show_probe,
    skip_modes,
)
from tessy_factory.artifacts import key_slug
from tessy_factory.home import FactoryHome
from tessy_factory.probe.config import BASELINE, load_probe_config
from tessy_factory.probe.results import ProbeKey
from tessy_factory.probe.runner import plan_modes, probe_hash


@dataclass(frozen=True)
class ProbeResult:
    """Which version was probed, and its table (markdown)."""

    repo_id: str
    version: str
    probe_hash: str
    table: str
    skipped: list[str]


# No log_prints: as in the build flow (dill disassembles functions into a captured stdout).
@flow(name="probe-dataset")
def probe_dataset(
    config: str,
    overrides: dict[str, Any] = {},  # noqa: B006 (never changed; the UI form shows it)
) -> ProbeResult:
    """Fine-tune the student on each mode's rows of a dataset version and judge it on held-out
    problems. Re-running the same probe on the same version skips the modes it finished.

    Args:
        config: Path of the YAML probe config, relative to the flow's working directory (the
            repository for a deployment); relative paths inside it resolve against its folder.
        overrides: Config keys to change, deep-merged into the file, dotted or nested, e.g.
            {"dataset.version": "v2026.12.02-1"}; an unknown key fails the run, naming it.
    """
    config_file = Path(config)
    probe = load_probe_config(config_file, overrides)
    home = FactoryHome.resolve(probe.home)
    version = read_dataset_version(probe, home)
    trained, skipped = plan_modes(version, probe)
    # Before any training: a problem the students would train on fails the probe here.
    problems = read_eval_problems(probe, config_file.resolve().parent, version, trained)
    key = ProbeKey(version.repo_id, version.version, probe_hash(probe))
    skip_modes(key, skipped, probe, home)
    done = finished_modes(key, home)
    todo = ([BASELINE] if probe.baseline else []) + trained
    logger = get_run_logger()
    evaluator = None
    for mode in todo:
        if mode in done:
            logger.info("mode %s: finished by an earlier attempt of this probe, skipped", mode)
            continue
        evaluator = evaluator or load_evaluator(probe, problems, home)
        probe_mode(mode, version, key, probe, home, evaluator)
    table = show_probe(key, home)
    create_markdown_artifact(
        key=f"probe-{key_slug(version.repo_id)}",
        markdown=f"# Probe of {version.repo_id} {version.version}\n\n{table}",
        description=f"Downstream probe {key.probe_hash} of {version.repo_id} {version.version}",
    )
    return ProbeResult(
        version.repo_id, version.version, key.probe_hash, table, [o.mode for o in skipped]
    )
