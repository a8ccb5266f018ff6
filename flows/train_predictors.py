"""Train the boundary predictors a TESSY build needs: traces -> windows -> annotations ->
training -> evaluation -> a registered predictor per model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact

from tasks.predictor_training import (
    annotate_windows,
    collect_traces,
    draw_windows,
    train_role_predictor,
)
from tasks.runs import announce_run, check_run_id, close_run, fail_run, new_run_id, open_run
from tasks.sourcing import fingerprint_sources, load_prompts, settle_prompts
from tessy_factory.figures import rounded_values
from tessy_factory.home import FactoryHome
from tessy_factory.predictors.config import load_training_config

ROLES = ("teacher", "student")


# No log_prints: dill (which datasets uses to hash functions) disassembles a function into
# a captured stdout to find its globals, and log_prints sent each line of bytecode to the log.
@flow(name="train-boundary-predictors")
def train_boundary_predictors(
    config: str,
    overrides: dict[str, Any] = {},  # noqa: B006 (never changed; the UI form shows it)
    run_id: str = "",
) -> dict[str, dict]:
    """Train, evaluate and register both predictors; the metrics of each, by role.
    Re-running with the same `run_id` resumes that run.

    Args:
        config: Path of the YAML training config, relative to the flow's working directory
            (the repository for a deployment); relative paths inside it (prompt and trace
            files) resolve against its folder.
        overrides: Config keys to change, deep-merged into the file, dotted or nested, e.g.
            {"windows.count": 200}; an unknown key fails the run, naming it.
        run_id: Resume this run, or name a new one; empty: a new id.
    """
    config_file = Path(config)
    config_dir = config_file.resolve().parent
    training = load_training_config(config_file, overrides)
    home = FactoryHome.resolve(training.home)
    run_id = check_run_id(run_id) if run_id else new_run_id(training)
    announce_run(run_id, "predictors train")
    # The prompts are read only to sample traces from a model.
    samples = any(training.role(role).traces.model is not None for role in ROLES)
    sources = fingerprint_sources(training.sources, config_dir) if samples else {}
    open_run(run_id, training, home, sources)
    metrics = {}
    try:
        if samples:
            load_prompts(run_id, training.sources, home, config_dir)
            settle_prompts(run_id, home)
        for role in ROLES:
            collect_traces(run_id, role, training, home, config_dir)
            draw_windows(run_id, role, training, home)
            annotate_windows(run_id, role, training, home)
            metrics[role] = train_role_predictor(run_id, role, training, home)
    except Exception as exc:
        fail_run(run_id, home, exc)
        raise
    create_table_artifact(
        key=f"predictors-{training.name.lower().replace('_', '-').replace('.', '-')}",
        table=[
            {"predictor": f"{training.name}-{role}", **rounded_values(metrics[role])}
            for role in ROLES
        ],
        description=f"Held-out metrics of the boundary predictors trained by {run_id}",
    )
    close_run(run_id, home)
    return metrics
