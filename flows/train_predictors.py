"""Train the boundary predictors a TESSY build needs: traces -> windows -> annotations ->
training -> evaluation -> a registered predictor per model."""

from __future__ import annotations

from pathlib import Path

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
from tessy_factory.predictors.config import PredictorTrainingConfig

ROLES = ("teacher", "student")


@flow(name="train-boundary-predictors", log_prints=True)
def train_boundary_predictors(
    config: PredictorTrainingConfig, run_id: str | None = None, config_dir: str = "."
) -> dict[str, dict]:
    """Train, evaluate and register both predictors; the metrics of each, by role.
    Re-running with the same `run_id` resumes that run.

    `config_dir` is where relative paths in the config (prompt and trace files) resolve.
    """
    home = FactoryHome.resolve(config.home)
    run_id = check_run_id(run_id) if run_id else new_run_id(config)
    announce_run(run_id, "predictors train")
    # The prompts are read only to sample traces from a model.
    samples = any(config.role(role).traces.model is not None for role in ROLES)
    sources = fingerprint_sources(config.sources, Path(config_dir)) if samples else {}
    open_run(run_id, config, home, sources)
    metrics = {}
    try:
        if samples:
            load_prompts(run_id, config.sources, home, Path(config_dir))
            settle_prompts(run_id, home)
        for role in ROLES:
            collect_traces(run_id, role, config, home, Path(config_dir))
            draw_windows(run_id, role, config, home)
            annotate_windows(run_id, role, config, home)
            metrics[role] = train_role_predictor(run_id, role, config, home)
    except Exception as exc:
        fail_run(run_id, home, exc)
        raise
    create_table_artifact(
        key=f"predictors-{config.name.lower().replace('_', '-').replace('.', '-')}",
        table=[
            {"predictor": f"{config.name}-{role}", **rounded_values(metrics[role])}
            for role in ROLES
        ],
        description=f"Held-out metrics of the boundary predictors trained by {run_id}",
    )
    close_run(run_id, home)
    return metrics
