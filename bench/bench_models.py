"""Bench-sized models shared by the benchmarks, built with random weights in a directory.

One generating model plays both roles, as the issue sets: Qwen3 config, hidden 256, 4
layers, about 3M parameters, with a BPE tokenizer trained on miniature traces (so `<think>`
and `</think>` are tokens). One small random token classifier is the boundary predictor of
both roles; its two thresholds are set from its own style-probability quantiles so the
teacher is cut at about one token in `CUT_RATE` and the student likewise, which gives turns
of a few tokens, as trained predictors do on real traces.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import Qwen3ForCausalLM, Qwen3ForTokenClassification

from tessy_factory.config import ModelConfig, PredictorConfig
from tessy_factory.engine.predictor import STYLE, BoundaryPredictor
from tessy_factory.miniature.build import write_traces
from tessy_factory.miniature.styles import student_trace, teacher_trace
from tessy_factory.miniature.tokenizer import train_tokenizer
from tessy_factory.miniature.train import Shape
from tessy_factory.trace_format import THINK_CLOSE

CHUNKS = {"teacher": 10, "student": 5}
CONTEXT = 8192
CUT_RATE = 0.15


@dataclass(frozen=True)
class BenchModels:
    """Where the bench models are and how to configure them."""

    lm: Path
    predictor: Path
    thresholds: dict[str, float]

    def model_config(self, role: str, **extra: object) -> ModelConfig:
        return ModelConfig(
            model=str(self.lm),
            chunk_tokens=CHUNKS[role],
            temperature=1.0,
            top_p=1.0,
            max_context_tokens=CONTEXT,
            **extra,
        )

    def predictor_config(self, role: str) -> PredictorConfig:
        return PredictorConfig(model=str(self.predictor), threshold=self.thresholds[role])


def build_bench_models(root: Path, vocab_size: int = 1000) -> BenchModels:
    """Write the bench LM and predictor under `root`."""
    traces = write_traces(teacher_trace, 300, seed=1) + write_traces(student_trace, 300, seed=2)
    texts = [t.prompt for t in traces] + [t.completion for t in traces]
    tokenizer = train_tokenizer(texts, vocab_size)
    torch.manual_seed(0)
    lm_config = Shape(hidden=256, layers=4).config(len(tokenizer))
    lm_config.max_position_embeddings = CONTEXT
    lm = Qwen3ForCausalLM(lm_config)
    # Random weights would end a trace at any point: never end the turn or the thinking, so
    # every trace writes its N tokens.
    lm.generation_config.suppress_tokens = [
        tokenizer.eos_token_id,
        tokenizer.convert_tokens_to_ids(THINK_CLOSE),
    ]
    lm.save_pretrained(root / "lm")
    tokenizer.save_pretrained(root / "lm")
    predictor_config = Shape(hidden=64, layers=2).config(len(tokenizer), num_labels=2)
    predictor_config.max_position_embeddings = CONTEXT
    Qwen3ForTokenClassification(predictor_config).save_pretrained(root / "predictor")
    tokenizer.save_pretrained(root / "predictor")
    thresholds = _thresholds(root / "predictor", " ".join(texts[-20:]))
    return BenchModels(root / "lm", root / "predictor", thresholds)


def _thresholds(path: Path, text: str) -> dict[str, float]:
    """The teacher is cut at its first style token, the student at its first capability
    token: put each cut at about `CUT_RATE` of tokens."""
    predictor = BoundaryPredictor("bench", str(path), PredictorConfig(model=str(path)))
    ids = predictor.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        style = predictor.model(input_ids=ids[:, :1024]).logits.softmax(-1)[0, :, STYLE]
    return {
        "teacher": torch.quantile(style, 1 - CUT_RATE).item(),
        "student": torch.quantile(style, CUT_RATE).item(),
    }
