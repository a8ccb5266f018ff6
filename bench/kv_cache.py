"""Benchmark: the KV-cached local engine against re-encoding the whole prefix every turn.

Two bench-sized Qwen3 models (random weights, hidden 256, 4 layers, about 3M parameters,
end-of-turn suppressed so every trace reaches its length) take turns of 10 (teacher) and 5
(student) tokens, as the TESSY loop does, until the trace has N tokens. The baseline is the
authors' design: every turn re-sends the whole text. Prints medians and the ratio, both
measured in the same run.

    .venv/bin/python bench/kv_cache.py [--lengths 256 1024 4096] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from transformers import Qwen3ForCausalLM

from tessy_factory.config import ModelConfig
from tessy_factory.demo.problems import build_problems
from tessy_factory.engine.local_model import LocalModel
from tessy_factory.miniature.build import write_traces
from tessy_factory.miniature.styles import teacher_trace
from tessy_factory.miniature.tokenizer import train_tokenizer
from tessy_factory.miniature.train import Shape

CHUNKS = {"teacher": 10, "student": 5}


def bench_models(root: Path) -> dict[str, LocalModel]:
    traces = write_traces(teacher_trace, 500, seed=1)
    tokenizer = train_tokenizer([t.prompt for t in traces] + [t.completion for t in traces], 1000)
    config = Shape(hidden=256, layers=4).config(len(tokenizer))
    config.max_position_embeddings = 8192
    torch.manual_seed(0)
    Qwen3ForCausalLM(config).save_pretrained(root)
    tokenizer.save_pretrained(root)
    models = {}
    for role, chunk in CHUNKS.items():
        model = LocalModel(
            role, str(root), ModelConfig(model=role, chunk_tokens=chunk, max_context_tokens=8192)
        )
        # Random weights: never let the end-of-turn token end a trace early.
        model.model.generation_config.suppress_tokens = [model.tokenizer.eos_token_id]
        models[role] = model
    return models


def alternate(models: dict[str, LocalModel], prompt: str, length: int, cached: bool) -> float:
    """Seconds to write `length` tokens in alternating turns."""
    caches = {role: model.new_cache() if cached else None for role, model in models.items()}
    text, written, role = "<think>\n", 0, "student"
    torch.manual_seed(0)
    started = time.perf_counter()
    while written < length:
        model = models[role]
        turn = model.continue_text(model.prompt_text(prompt) + text, CHUNKS[role], caches[role])
        text += turn.text
        written += len(turn.pieces)
        role = "teacher" if role == "student" else "student"
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    prompt = build_problems(1, 2026)[0].text
    with tempfile.TemporaryDirectory() as tmp:
        models = bench_models(Path(tmp))
        n_params = models["teacher"].model.num_parameters()
        print(f"bench model: {n_params / 1e6:.1f}M parameters, {torch.get_num_threads()} threads")
        print(f"{'tokens':>7} {'recompute s':>12} {'kv cache s':>11} {'speed-up':>9}")
        for length in args.lengths:
            # Alternate the two engines so drift on a noisy machine hits both alike.
            full, cached = [], []
            for _ in range(args.repeats):
                full.append(alternate(models, prompt, length, cached=False))
                cached.append(alternate(models, prompt, length, cached=True))
            f, c = statistics.median(full), statistics.median(cached)
            print(f"{length:>7} {f:>12.2f} {c:>11.2f} {f / c:>8.1f}x")


if __name__ == "__main__":
    main()
