"""Boundary predictors: token classifiers that say whether the next token is style."""

from __future__ import annotations

from typing import Protocol

import torch
from transformers import AutoModelForTokenClassification

from tessy_factory.config import PredictorConfig
from tessy_factory.engine.local_model import ModelLoadError, load_pretrained

STYLE = 1


class Predictor(Protocol):
    """What the loop needs of a boundary predictor."""

    def label_chunk(self, context: str, chunk: str) -> list[tuple[int, bool]]:
        """(offset in chunk, is style) for the chunk's tokens or words, in order."""
        ...


class BoundaryPredictor:
    """A 2-label token classifier (0 capability, 1 style); position i predicts token i+1."""

    def __init__(self, name: str, path: str, config: PredictorConfig) -> None:
        self.name = name
        self.config = config
        self.tokenizer, self.model = load_pretrained(
            AutoModelForTokenClassification, "boundary predictor", name, path
        )
        if self.model.config.num_labels != 2:
            raise ModelLoadError(
                f"boundary predictor {name!r} has {self.model.config.num_labels} labels; "
                "a boundary predictor needs exactly 2 (capability, style)"
            )
        self.device = self.model.device

    @torch.inference_mode()
    def label_chunk(self, context: str, chunk: str) -> list[tuple[int, bool]]:
        """For each predictor token that starts inside `chunk`: (offset in chunk, is style).

        The classifier sees the last `context_tokens` tokens of context plus the chunk.
        """
        encoded = self.tokenizer(
            context + chunk, add_special_tokens=False, return_offsets_mapping=True
        )
        offsets = encoded["offset_mapping"]
        first = next(
            (i for i, (start, _) in enumerate(offsets) if start >= len(context)), len(offsets)
        )
        window = max(0, first - self.config.context_tokens)
        ids = torch.tensor([encoded["input_ids"][window:]], device=self.device)
        style_prob = self.model(input_ids=ids).logits.softmax(-1)[0, :, STYLE].tolist()
        labels = []
        for index in range(max(first, window + 1), len(offsets)):
            # The logits at position i classify token i+1.
            labels.append(
                (
                    offsets[index][0] - len(context),
                    style_prob[index - 1 - window] >= self.config.threshold,
                )
            )
        return labels
