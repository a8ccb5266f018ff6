"""The model card saved with a trained boundary predictor: its data, metrics and use."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import yaml

from tessy_factory.predictors.config import PredictorTrainingConfig
from tessy_factory.predictors.metrics import PredictorMetrics


@dataclass(frozen=True)
class DataCounts:
    """What one predictor was trained on, counted at each step."""

    traces: dict[str, int]  # by status: ok, failed, empty
    windows: dict[str, int]  # by annotation status: ok, rejected
    rejections: dict[str, int]  # by reason
    train_examples: int
    held_out: int


def model_card(
    name: str,
    role: str,
    run_id: str,
    config: PredictorTrainingConfig,
    counts: DataCounts,
    metrics: PredictorMetrics,
) -> str:
    """README.md for the predictor's directory, with Hub-style YAML metadata."""
    training = config.training
    metadata = {
        "library_name": "transformers",
        "pipeline_tag": "token-classification",
        "base_model": training.base_model,
        "tags": ["tessy", "boundary-predictor", role],
    }
    rows = "\n".join(f"| {key} | {_number(value)} |" for key, value in asdict(metrics).items())
    return f"""---
{yaml.safe_dump(metadata, sort_keys=False).strip()}
---

# Boundary predictor `{name}`

The {role}'s boundary predictor for TESSY (arXiv:2604.14164): a causal token classifier on
`{training.base_model}`. Position i predicts the class of token i+1: 1 style (filler,
transitions, tone), 0 capability (reasoning, code, solution steps). Trained by Tessy Factory
run `{run_id}`.

## Data

- Traces of the {role}: {_counts(counts.traces)} ({_trace_source(config, role)}).
- Windows of {config.windows.words} words, {config.windows.count} drawn (seed
  {config.windows.seed}); annotator {_annotator(config)}: {_counts(counts.windows)}.
- Rejected annotator answers by reason: {_counts(counts.rejections) or "none"}.
- Training examples: {counts.train_examples}; held out: {counts.held_out}.

## Metrics on the held-out windows

Span scores count exact matches of maximal style runs; the boundary distance is the mean
distance, in tokens, between the predicted and the true cut in chunks of
{config.role(role).chunk_tokens} tokens, where the engine cuts.

| metric | value |
| --- | ---: |
{rows}

## Training

Epochs {training.epochs:g}, learning rate {training.learning_rate:g}, batch
{training.batch_size}, at most {training.max_length} tokens a window,
{training.validation_share:.0%} held out, seed {training.seed}; the checkpoint with the best
held-out token accuracy is kept.

## Use

In a Tessy Factory build config:

```yaml
{role}_predictor:
  model: registered:{name}
```
"""


def _number(value: float | int) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {status}" for status, count in counts.items())


def _trace_source(config: PredictorTrainingConfig, role: str) -> str:
    traces = config.role(role).traces
    if traces.file is not None:
        return f"read from {traces.file}"
    return f"sampled from {traces.model.model}, {traces.samples_per_prompt} a prompt"


def _annotator(config: PredictorTrainingConfig) -> str:
    annotator = config.annotator
    if annotator.kind == "lexicon":
        return f"the lexicon of {len(annotator.phrases)} phrases"
    return f"the model {annotator.model.model}"
