"""Too little data for a step of a predictor training run: an error that names the run, counts
what each step produced, and says which config keys would give more."""

from __future__ import annotations

from collections.abc import Mapping

from tessy_factory.predictors.config import PredictorTrainingConfig

# Annotated windows the training needs: one to train on, one to hold out.
MIN_ANNOTATED = 2


class NotEnoughData(ValueError):
    """A predictor run cannot go on with the data it has; the message says why and what to
    change."""


def no_usable_trace(
    run_id: str,
    role: str,
    config: PredictorTrainingConfig,
    counts: Mapping[str, Mapping],
    trace_failures: Mapping[str, int],
) -> NotEnoughData:
    """The error for a role whose traces gave none to draw windows from; `trace_failures`
    counts the traces that are not usable by reason."""
    source = config.role(role).traces
    if source.file is not None:
        fixes = [f"{role}.traces.file ({source.file}): a JSONL file with a `text` per line"]
    else:
        fixes = [
            f"sampling.max_total_tokens (now {config.sampling.max_total_tokens}): a trace "
            "whose thinking does not end within it fails",
            f"{role}.traces.samples_per_prompt (now {source.samples_per_prompt})",
            "sources: more prompts",
        ]
    problem = "no usable trace to draw windows from"
    if trace_failures:
        problem += f" (not usable: {_by_key(trace_failures)})"
    return _error(run_id, role, problem, counts, fixes)


def too_few_annotated(
    run_id: str,
    role: str,
    config: PredictorTrainingConfig,
    counts: Mapping[str, Mapping],
    annotated: int,
) -> NotEnoughData:
    """The error for a role with fewer than MIN_ANNOTATED usable annotated windows."""
    fixes = [f"windows.count (now {config.windows.count})"]
    if counts["windows"].get("rejected"):
        fixes.append(
            f"annotator.kind (now {config.annotator.kind}), annotator.model or "
            f"annotator.max_new_tokens (now {config.annotator.max_new_tokens}): the annotator's "
            "answers were rejected"
        )
    problem = (
        f"{annotated} annotated window(s), but training needs at least {MIN_ANNOTATED} "
        "(one to train on, one to hold out)"
    )
    return _error(run_id, role, problem, counts, fixes)


def _error(
    run_id: str, role: str, problem: str, counts: Mapping[str, Mapping], fixes: list[str]
) -> NotEnoughData:
    traces, windows = counts["traces"], counts["windows"]
    steps = [
        f"traces {sum(traces.values())} ({_by_key(traces)})",
        f"windows drawn {sum(windows.values())} ({_by_key(windows)})",
    ]
    if counts["rejections"]:
        steps.append(f"annotator answers rejected for: {_by_key(counts['rejections'])}")
    return NotEnoughData(
        f"predictor run {run_id!r}, {role}: {problem}. So far: {'; '.join(steps)}. "
        f"To get more, change in the config: {'; '.join(fixes)}."
    )


def _by_key(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{key} {n}" for key, n in sorted(counts.items())) or "none"
