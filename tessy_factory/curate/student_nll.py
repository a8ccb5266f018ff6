"""The student's negative log-likelihood per token of a row: how foreign the row is to it.

Each row is scored as the student would be trained on it: its prompt in the student's chat
template, then the assistant turn (thinking and answer), the loss taken over the assistant
turn's tokens only. Rows go through the model in batches, right-padded with an attention
mask, so a padded row scores as it would alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from tessy_factory.config import ModelConfig
from tessy_factory.engine.local_model import ModelLoadError, load_pretrained
from tessy_factory.engine.text_model import chat_prompt
from tessy_factory.engine.tokens import count_tokens_each
from tessy_factory.miniature.build import resolve_model

SERVED = "the student is served (openai backend): its NLL needs its weights in-process"


@dataclass(frozen=True)
class Score:
    """A row's mean NLL per assistant token, or None and why."""

    nll: float | None
    skipped: str | None = None


class Student:
    """The student's tokenizer, and its weights where the NLL is measured in-process."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        model: PreTrainedModel | None,
        max_tokens: int,
        unscored: str | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.model = model
        self.max_tokens = max_tokens
        # Why rows get no NLL at all (no weights here), or None.
        self.unscored = unscored if model is None else None

    @classmethod
    def load(cls, config: ModelConfig, models_root: Path, with_nll: bool) -> Student:
        """The student of a build; its weights only when `with_nll` and it runs locally."""
        if config.backend == "local" and with_nll:
            path = resolve_model(config.model, models_root, predictor=False)
            tokenizer, model = load_pretrained(AutoModelForCausalLM, "model", config.model, path)
            return cls(tokenizer, model, config.max_context_tokens)
        path = resolve_model(config.tokenizer or config.model, models_root, predictor=False)
        tokenizer = load_tokenizer(path, config.model)
        reason = SERVED if with_nll else "curation.metrics.student_nll is off"
        return cls(tokenizer, None, config.max_context_tokens, reason)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """The number of the student's tokens in each of `texts`."""
        return count_tokens_each(self.tokenizer, texts)

    @torch.inference_mode()
    def score(self, rows: Sequence[tuple[str, str]], batch_size: int) -> list[Score]:
        """The mean NLL per token of each (user prompt, assistant turn), in order."""
        if self.model is None:
            return [Score(None, self.unscored) for _ in rows]
        encoded = [self._encode(prompt, turn) for prompt, turn in rows]
        scores: list[Score | None] = [None] * len(rows)
        scorable = []
        for index, (ids, start) in enumerate(encoded):
            if start >= len(ids):
                scores[index] = Score(None, "no tokens in the assistant turn")
            elif len(ids) > self.max_tokens:
                scores[index] = Score(
                    None, f"{len(ids)} tokens exceed the student's context ({self.max_tokens})"
                )
            else:
                scorable.append(index)
        # Rows of like length share a batch, so little of a batch is padding.
        scorable.sort(key=lambda index: len(encoded[index][0]))
        for first in range(0, len(scorable), batch_size):
            batch = scorable[first : first + batch_size]
            for index, nll in zip(batch, self._batch_nll([encoded[i] for i in batch]), strict=True):
                scores[index] = Score(nll)
        return [score for score in scores if score is not None]

    def _encode(self, prompt: str, turn: str) -> tuple[list[int], int]:
        """Token ids of the prompt then the turn, and where the turn's tokens start."""
        context = self.tokenizer(chat_prompt(self.tokenizer, prompt), add_special_tokens=False)
        reply = self.tokenizer(turn, add_special_tokens=False)
        return context["input_ids"] + reply["input_ids"], len(context["input_ids"])

    def _batch_nll(self, batch: list[tuple[list[int], int]]) -> list[float]:
        width = max(len(ids) for ids, _ in batch)
        device = self.model.device
        # Right padding: a real token attends only to tokens before it, never to padding,
        # and its position ids are those it has alone.
        input_ids = torch.zeros((len(batch), width), dtype=torch.long, device=device)
        attention = torch.zeros_like(input_ids)
        scored = torch.zeros((len(batch), width), dtype=torch.bool, device=device)
        for row, (ids, start) in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids, device=device)
            attention[row, : len(ids)] = 1
            scored[row, start : len(ids)] = True
        logits = self.model(input_ids=input_ids, attention_mask=attention).logits
        # Position i predicts token i + 1.
        nll = torch.nn.functional.cross_entropy(
            logits[:, :-1].float().transpose(1, 2), input_ids[:, 1:], reduction="none"
        )
        targets = scored[:, 1:]
        per_row = (nll * targets).sum(dim=1) / targets.sum(dim=1)
        return per_row.tolist()


def load_tokenizer(path: str, name: str) -> PreTrainedTokenizerBase:
    """The tokenizer at `path` (a directory or Hub id); ModelLoadError naming `name`."""
    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load tokenizer {name!r} from {path!r}: {exc}") from exc
