"""Supervised fine-tuning of a fresh copy of the student on one mode's rows.

Each row is trained in the chat format it was published in: the user turn in the student's
chat template (with the assistant turn opened), then the row's assistant turn
(`<think>\\n...\\n</think>\\n\\nanswer`) and the end-of-turn token, the loss on the assistant
turn's tokens only. The loop is the miniature models' (`miniature/train.py`: its collation,
loss and warm-up/cosine schedule), run by epochs over the rows; full fine-tuning by default,
LoRA adapters through peft for large students (merged into the weights after training).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from tessy_factory.engine.local_model import load_pretrained
from tessy_factory.engine.text_model import chat_prompt
from tessy_factory.miniature.train import Example, Schedule, collate, warmup_cosine, weighted_loss
from tessy_factory.predictors.labels import IGNORE
from tessy_factory.probe.config import ProbeTraining


@dataclass
class Training:
    """What fine-tuning one mode did: the loss of every step, per-epoch means, the rows
    used and left out (too long), and its wall time."""

    steps: list[float] = field(default_factory=list)
    epochs: list[float] = field(default_factory=list)
    rows: int = 0
    too_long: int = 0
    seconds: float = 0.0


def sft_examples(
    rows: pd.DataFrame, tokenizer: PreTrainedTokenizerBase, max_length: int
) -> tuple[list[Example], int]:
    """One example per row (token ids, labels: the prompt's ignored) and the number of rows
    left out for being longer than `max_length` tokens."""
    examples, too_long = [], 0
    for messages in rows["messages"]:
        user = next(m["content"] for m in messages if m["role"] == "user")
        turn = next(m["content"] for m in messages if m["role"] == "assistant")
        prompt_ids = tokenizer(chat_prompt(tokenizer, user), add_special_tokens=False)["input_ids"]
        turn_ids = tokenizer(turn + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        if len(prompt_ids) + len(turn_ids) > max_length:
            too_long += 1
            continue
        examples.append((prompt_ids + turn_ids, [IGNORE] * len(prompt_ids) + turn_ids))
    return examples, too_long


def fine_tune(
    student_path: str,
    rows: pd.DataFrame,
    settings: ProbeTraining,
    out_dir: Path,
    progress: Callable[[int, int, float], None] | None = None,
) -> Training:
    """Fine-tune a fresh copy of the student at `student_path` on `rows` and save it (and its
    tokenizer) to `out_dir`; `progress(epoch, step, loss)` after each step."""
    started = time.perf_counter()
    tokenizer, model = load_pretrained(AutoModelForCausalLM, "model", student_path, student_path)
    examples, too_long = sft_examples(rows, tokenizer, settings.max_length)
    training = Training(rows=len(examples), too_long=too_long)
    if not examples:
        raise ValueError(f"every row is longer than training.max_length ({settings.max_length})")
    torch.manual_seed(settings.seed)
    trained = _with_adapters(model, settings) if settings.lora.enabled else model
    _fit(trained, examples, pad_token_id(tokenizer), settings, training, progress)
    if settings.lora.enabled:
        model = trained.merge_and_unload()
    model.eval()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    training.seconds = time.perf_counter() - started
    return training


def _with_adapters(model: PreTrainedModel, settings: ProbeTraining):
    from peft import LoraConfig, get_peft_model

    lora = settings.lora
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def pad_token_id(tokenizer) -> int:
    """The id padding fills a batch with: the tokenizer's pad token, else its end of text
    (many causal students have no pad token). Padded positions are masked out of attention
    and of the loss, so which id fills them does not change the training."""
    for token_id in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if token_id is not None:
            return token_id
    return 0


def _fit(
    model,
    examples: Sequence[Example],
    pad_id: int,
    settings: ProbeTraining,
    training: Training,
    progress: Callable[[int, int, float], None] | None,
) -> None:
    rng = random.Random(settings.seed)
    per_epoch = -(-len(examples) // settings.batch_size)
    total = per_epoch * settings.epochs
    schedule = Schedule(
        steps=total, warmup=max(1, int(total * settings.warmup_share)), seed=settings.seed
    )
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, warmup_cosine(schedule))
    # A peft model wraps the causal LM, whose own modules hold the adapters: the loss is
    # taken on it, as `weighted_loss` shifts the labels of a causal LM only.
    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    device = causal_lm.device
    model.train()
    for epoch in range(settings.epochs):
        order = list(examples)
        rng.shuffle(order)
        losses = []
        for start in range(0, len(order), settings.batch_size):
            batch = [
                t.to(device) for t in collate(order[start : start + settings.batch_size], pad_id)
            ]
            loss = weighted_loss(causal_lm, *batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimiser.step()
            scheduler.step()
            optimiser.zero_grad(set_to_none=True)
            losses.append(loss.item())
            if progress is not None:
                progress(epoch + 1, len(training.steps) + len(losses), losses[-1])
        training.steps += losses
        training.epochs.append(sum(losses) / len(losses))
