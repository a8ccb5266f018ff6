"""Benchmark: the local engine against the reference design, and TESSY against teacher-only.

Both run the real loop (`generate_sample`) on the bench models (`bench_models.py`), with
their boundary predictors and chunk sizes 10 (teacher) and 5 (student). End of turn and end
of thinking are suppressed (the end-of-thinking marker is one random weights never write), so
every trace writes its N tokens of thinking and then stops at the length cap.

- Our engine (one KV cache per model per sample, fed only the text it has not seen; a turn
  stops at the token that settles its cut) against the authors' design, which re-encodes
  the whole prefix every turn and writes every chunk whole before cutting it.
- TESSY against teacher-only: the same N tokens written by the teacher alone in one call.

Runs alternate between the engines compared, so drift on a noisy machine hits both alike.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from bench_models import BenchModels

from tessy_factory.config import GenerationConfig, GenerationMode
from tessy_factory.demo.problems import build_problems
from tessy_factory.engine.batching import LabelBatcher
from tessy_factory.engine.local_model import LocalModel
from tessy_factory.engine.loop import Writer, generate_sample
from tessy_factory.engine.predictor import BoundaryPredictor
from tessy_factory.engine.text_model import Continuation, GenerationFailed

# The end of thinking for the bench: random weights write `</think>` out of smaller tokens
# now and then, which would end a trace early; they do not write this.
NEVER_WRITTEN = "\x00\x00 end of the bench's thinking \x00\x00"


class CountingModel(LocalModel):
    """The local model, counting the turns and tokens it writes."""

    turns = 0
    tokens = 0

    async def complete(self, prefix, max_new_tokens, cache, seed, stop=None) -> Continuation:
        continuation = await super().complete(prefix, max_new_tokens, cache, seed, stop)
        self.turns += 1
        self.tokens += len(continuation.pieces)
        return continuation


class RecomputeModel(CountingModel):
    """The reference design: no cache, so every turn runs the whole prefix, and every turn
    writes its whole chunk before the predictor cuts it."""

    def new_cache(self) -> None:
        return None

    async def complete(self, prefix, max_new_tokens, cache, seed, stop=None) -> Continuation:
        return await super().complete(prefix, max_new_tokens, cache, seed)


# TESSY and teacher-only run in at least this many tokens' worth of pairs per length.
PAIR_TOKENS = 4096


def bench_writers(models: BenchModels, model_class: type[CountingModel]) -> dict[str, Writer]:
    writers = {}
    for role in ("teacher", "student"):
        model = model_class(role, str(models.lm), models.model_config(role))
        predictor = BoundaryPredictor(role, str(models.predictor), models.predictor_config(role))
        writers[role] = Writer(role, model, LabelBatcher(predictor, max_batch=32))
    return writers


def timed_trace(writers: dict[str, Writer], mode: GenerationMode, length: int, seed: int):
    """(seconds, tokens written, turns) of one trace of `length` thinking tokens."""
    models = [writer.model for writer in writers.values()]
    for model in models:
        model.turns = model.tokens = 0
    config = GenerationConfig(max_total_tokens=length, end_of_thinking=[NEVER_WRITTEN])
    prompt = build_problems(1, 2026)[0].text
    started = time.perf_counter()
    try:
        asyncio.run(
            generate_sample(prompt, mode, writers["teacher"], writers["student"], config, seed)
        )
    except GenerationFailed as stop:
        assert "did not end" in str(stop), stop  # the length cap, as intended
    seconds = time.perf_counter() - started
    return seconds, sum(m.tokens for m in models), sum(m.turns for m in models)


def run(models: BenchModels, lengths: list[int], repeats: int) -> list[dict]:
    """One row per length: medians of each engine and the ratios.

    The reference and the cached engine alternate `repeats` times. TESSY and teacher-only
    then run in adjacent pairs, their order swapped every pair: at least `repeats` pairs,
    and more for short traces (PAIR_TOKENS tokens' worth), whose seconds are noisier.
    """
    cached = bench_writers(models, CountingModel)
    recompute = bench_writers(models, RecomputeModel)
    rows = []
    for length in lengths:
        times = {"recompute": [], "cached": [], "teacher-only": []}
        turns = []
        for seed in range(repeats):
            times["recompute"].append(timed_trace(recompute, GenerationMode.TESSY, length, seed)[0])
        for seed in range(max(repeats, PAIR_TOKENS // length)):
            modes = [GenerationMode.TESSY, GenerationMode.TEACHER_ONLY][:: 1 - 2 * (seed % 2)]
            for mode in modes:
                seconds, _, mode_turns = timed_trace(cached, mode, length, seed)
                times["cached" if mode is GenerationMode.TESSY else "teacher-only"].append(seconds)
                if mode is GenerationMode.TESSY:
                    turns.append(mode_turns)
        medians = {name: statistics.median(values) for name, values in times.items()}
        rows.append({"tokens": length, "turns": statistics.median(turns), **medians})
    return rows


def print_table(rows: list[dict]) -> None:
    print(
        f"{'tokens':>7} {'turns':>6} {'reference s':>12} {'engine s':>11} "
        f"{'speed-up':>9} {'teacher-only s':>15} {'tessy/teacher-only':>19}"
    )
    for row in rows:
        print(
            f"{row['tokens']:>7} {row['turns']:>6.0f} {row['recompute']:>12.2f} "
            f"{row['cached']:>11.2f} {row['recompute'] / row['cached']:>8.1f}x "
            f"{row['teacher-only']:>15.2f} {row['cached'] / row['teacher-only']:>18.2f}x"
        )


def describe(models: BenchModels) -> str:
    lm = LocalModel("bench", str(models.lm), models.model_config("teacher"))
    return f"bench LM {lm.model.num_parameters() / 1e6:.1f}M parameters"
