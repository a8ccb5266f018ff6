"""Train one boundary predictor: a 2-label token classifier on a base model.

transformers' Trainer runs the epochs, evaluates the held-out split after each, writes
checkpoints a crashed run resumes from, and keeps the best checkpoint by token accuracy (the
reference's choice), on the GPU when there is one.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from transformers import (
    AutoModelForTokenClassification,
    AutoTokenizer,
    DataCollatorForTokenClassification,
    EvalPrediction,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from tessy_factory.engine.local_model import ModelLoadError
from tessy_factory.figures import figures_line
from tessy_factory.miniature.train import CLASSIFIER_LABELS
from tessy_factory.predictors.config import TrainingConfig
from tessy_factory.predictors.labels import IGNORE, token_labels

# (token ids, labels shifted by one: position i carries the class of token i+1)
Example = tuple[list[int], list[int]]


@dataclass(frozen=True)
class TrainedPredictor:
    """The best checkpoint, its tokenizer, and its labels on the held-out split."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    predicted: list[list[int]]
    true: list[list[int]]
    train_examples: int


def load_base(base_model: str) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """The base model with a fresh 2-label token-classification head, and its tokenizer."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(base_model)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForTokenClassification.from_pretrained(
            base_model, pad_token_id=tokenizer.pad_token_id, **CLASSIFIER_LABELS
        )
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load base model {base_model!r}: {exc}") from exc
    return tokenizer, model


def train_predictor(
    windows: Sequence[tuple[str, Sequence[tuple[int, int]]]],
    base_model: str,
    config: TrainingConfig,
    work_dir: Path,
    log: Callable[[str], None],
) -> TrainedPredictor:
    """Train on annotated (window text, style spans) less a held-out share; checkpoints go
    under `work_dir`, and a run that finds them there resumes from the last."""
    tokenizer, model = load_base(base_model)
    examples = [token_labels(text, spans, tokenizer, config.max_length) for text, spans in windows]
    train, held_out = split(examples, config.validation_share, config.seed)
    checkpoints = work_dir / "checkpoints"
    trainer = Trainer(
        model=model,
        args=_arguments(config, checkpoints),
        data_collator=DataCollatorForTokenClassification(tokenizer, label_pad_token_id=IGNORE),
        train_dataset=_dataset(train),
        eval_dataset=_dataset(held_out),
        compute_metrics=_token_accuracy,
        # Only the predicted class is needed: keeps evaluation memory at one int per token.
        preprocess_logits_for_metrics=lambda logits, _: logits.argmax(-1),
        callbacks=[_Progress(log)],
    )
    resume = checkpoints.is_dir() and any(checkpoints.glob("checkpoint-*"))
    trainer.train(resume_from_checkpoint=True if resume else None)
    predictions = trainer.predict(_dataset(held_out)).predictions
    # Rows are padded to the longest window: keep each window's own length.
    predicted = [
        list(map(int, row[: len(ids)])) for row, (ids, _) in zip(predictions, held_out, strict=True)
    ]
    return TrainedPredictor(
        trainer.model, tokenizer, predicted, [labels for _, labels in held_out], len(train)
    )


def split(
    examples: Sequence[Example], share: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """(train, held out): a seeded shuffle, at least one example on each side."""
    if len(examples) < 2:
        raise ValueError(
            f"{len(examples)} annotated window(s): at least 2 are needed to hold one out"
        )
    shuffled = list(examples)
    random.Random(seed).shuffle(shuffled)
    held = min(len(shuffled) - 1, max(1, round(share * len(shuffled))))
    return shuffled[held:], shuffled[:held]


def _arguments(config: TrainingConfig, checkpoints: Path) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=config.epochs,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="epoch",
        load_best_model_at_end=True,
        metric_for_best_model="token_accuracy",
        greater_is_better=True,
        # The best and the latest, to resume from.
        save_total_limit=2,
        seed=config.seed,
        use_cpu=not torch.cuda.is_available(),
        report_to="none",
        disable_tqdm=True,
    )


def _dataset(examples: Sequence[Example]) -> Dataset:
    return Dataset.from_dict(
        {"input_ids": [ids for ids, _ in examples], "labels": [labels for _, labels in examples]}
    )


def _token_accuracy(prediction: EvalPrediction) -> dict[str, float]:
    labels = np.asarray(prediction.label_ids)
    counted = labels != IGNORE
    correct = (np.asarray(prediction.predictions) == labels) & counted
    return {"token_accuracy": float(correct.sum() / max(1, counted.sum()))}


class _Progress(TrainerCallback):
    """Reports each epoch's training loss and held-out accuracy."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log

    def on_log(self, args, state, control, logs=None, **kwargs) -> None:
        self.log(f"epoch {state.epoch:.2f}/{args.num_train_epochs:g}: {figures_line(logs or {})}")
