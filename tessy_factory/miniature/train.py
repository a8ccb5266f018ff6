"""Train the miniature causal LMs and boundary predictors (Qwen3 architecture) on CPU.

A hand-written loop rather than `transformers.Trainer`: the runs are a few hundred steps on
a few hundred thousand parameters, where Trainer's setup (accelerate, logging, checkpoint
plumbing) costs more than the training itself.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from transformers import GenerationMixin, PreTrainedModel, PreTrainedTokenizerFast, Qwen3Config

from tessy_factory.miniature.styles import Trace
from tessy_factory.predictors.labels import IGNORE, overlaps, token_labels
from tessy_factory.trace_format import THINK_OPEN


@dataclass(frozen=True)
class Shape:
    """Size of a miniature Qwen3 model; `head_dim` defaults to hidden / heads."""

    hidden: int
    layers: int
    heads: int = 4
    kv_heads: int = 2
    mlp_ratio: int = 3
    head_dim: int | None = None

    def config(self, vocab_size: int, **extra: object) -> Qwen3Config:
        return Qwen3Config(
            vocab_size=vocab_size,
            hidden_size=self.hidden,
            intermediate_size=self.hidden * self.mlp_ratio,
            num_hidden_layers=self.layers,
            num_attention_heads=self.heads,
            num_key_value_heads=self.kv_heads,
            head_dim=self.head_dim or self.hidden // self.heads,
            max_position_embeddings=2048,
            tie_word_embeddings=True,
            **extra,
        )


@dataclass(frozen=True)
class Schedule:
    """Optimiser settings of one training run."""

    steps: int = 400
    batch_size: int = 16
    learning_rate: float = 3e-3
    warmup: int = 20
    seed: int = 0


# (token ids, labels) or (token ids, labels, per-token loss weights).
Example = tuple[list[int], list[int]] | tuple[list[int], list[int], list[float]]


def lm_example(
    trace: Trace, tokenizer: PreTrainedTokenizerFast, answer_weight: float = 1.0
) -> Example:
    """Token ids of prompt + completion, with loss only on the text the trace's model wrote:
    the completion less the other model's phrases it reads (`Trace.read_spans`). The final
    answer's tokens weigh `answer_weight` in the loss, the others 1."""
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": trace.prompt}], add_generation_prompt=True, tokenize=False
    )
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    completion = tokenizer(
        trace.completion + tokenizer.eos_token,
        add_special_tokens=False,
        return_offsets_mapping=True,
    )
    completion_ids = completion["input_ids"]
    read = _thinking_spans(trace.read_spans())
    offsets = completion["offset_mapping"]
    labels = [
        IGNORE if overlaps(span, read) else token
        for token, span in zip(completion_ids, offsets, strict=True)
    ]
    answer_start = len(trace.completion) - len(trace.answer)
    weights = [answer_weight if start >= answer_start else 1.0 for start, _ in offsets]
    return (
        prompt_ids + completion_ids,
        [IGNORE] * len(prompt_ids) + labels,
        [1.0] * len(prompt_ids) + weights,
    )


def predictor_example(trace: Trace, tokenizer: PreTrainedTokenizerFast) -> Example:
    """Thinking-text tokens labelled 1 where the *next* token overlaps a style span."""
    return token_labels(
        THINK_OPEN + trace.thinking, _thinking_spans(trace.style_spans()), tokenizer
    )


def _thinking_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans within `thinking` as spans within text that opens with `<think>\\n`."""
    return [(start + len(THINK_OPEN), end + len(THINK_OPEN)) for start, end in spans]


# The label set of a boundary predictor, as the engine and the authors' predictors use it.
CLASSIFIER_LABELS = {
    "num_labels": 2,
    "id2label": {0: "capability", 1: "style"},
    "label2id": {"capability": 0, "style": 1},
}


def train_model(
    model_class: type[PreTrainedModel],
    examples: Sequence[Example],
    shape: Shape,
    tokenizer: PreTrainedTokenizerFast,
    schedule: Schedule,
    progress: Callable[[int, float], None] | None = None,
    **config: object,
) -> PreTrainedModel:
    """Train a fresh model of `model_class` (a Qwen3 head) on the examples."""
    model_config = shape.config(len(tokenizer), pad_token_id=tokenizer.pad_token_id, **config)
    torch.manual_seed(schedule.seed)
    return _fit(model_class(model_config), examples, tokenizer.pad_token_id, schedule, progress)


def _fit(model, examples, pad_id, schedule, progress):
    optimiser = torch.optim.AdamW(model.parameters(), lr=schedule.learning_rate, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, warmup_cosine(schedule))
    batches = _batches(examples, schedule.batch_size, random.Random(schedule.seed))
    model.train()
    for step in range(schedule.steps):
        batch = collate(next(batches), pad_id)
        loss = weighted_loss(model, *batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        scheduler.step()
        optimiser.zero_grad(set_to_none=True)
        if progress is not None:
            progress(step + 1, loss.item())
    model.eval()
    return model


def warmup_cosine(schedule: Schedule) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < schedule.warmup:
            return (step + 1) / schedule.warmup
        done = (step - schedule.warmup) / max(1, schedule.steps - schedule.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done))

    return factor


def _batches(
    examples: Sequence[Example], size: int, rng: random.Random, pool: int = 8
) -> Iterator[list[Example]]:
    """Random batches without end, each of examples of about one length, so that little of
    a batch is padding: `pool` batches' worth is drawn at a time, sorted by length, split."""
    while True:
        drawn = sorted(rng.sample(examples, size * pool), key=lambda example: len(example[0]))
        batches = [drawn[start : start + size] for start in range(0, len(drawn), size)]
        rng.shuffle(batches)
        yield from batches


def weighted_loss(model, ids, labels, mask, weights):
    """Mean cross-entropy over the labelled tokens, weighted per token."""
    logits = model(input_ids=ids, attention_mask=mask).logits
    if isinstance(model, GenerationMixin):
        # A causal LM's position i predicts token i+1.
        logits, labels, weights = logits[:, :-1], labels[:, 1:], weights[:, 1:]
    losses = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.size(-1)).float(),
        labels.reshape(-1),
        ignore_index=IGNORE,
        reduction="none",
    )
    weights = weights.reshape(-1) * (labels.reshape(-1) != IGNORE)
    return (losses * weights).sum() / weights.sum()


def collate(examples: Sequence[Example], pad_id: int):
    width = max(len(example[0]) for example in examples)
    ids = torch.full((len(examples), width), pad_id)
    labels = torch.full((len(examples), width), IGNORE)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    weights = torch.ones((len(examples), width))
    for row, (example_ids, example_labels, *example_weights) in enumerate(examples):
        ids[row, : len(example_ids)] = torch.tensor(example_ids)
        labels[row, : len(example_labels)] = torch.tensor(example_labels)
        mask[row, : len(example_ids)] = 1
        if example_weights:
            weights[row, : len(example_ids)] = torch.tensor(example_weights[0])
    return ids, labels, mask, weights
