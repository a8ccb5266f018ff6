"""Benchmark: a tessy sample against a teacher-only one, end to end, as the demo build runs them.

The demo config's models (the trained miniature teacher and student), its boundary
predictors, chunk sizes, caps and sampling, on the demo prompts: the figure the build
report prints as "a tessy sample took Nx the wall time of a teacher-only one", here as
medians of samples run in adjacent pairs, their order swapped every pair, so drift on a
noisy machine hits both modes alike.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

from tessy_factory.config import BuildConfig, GenerationMode, load_config
from tessy_factory.demo.problems import build_problems
from tessy_factory.engine.loop import Writer, generate_sample
from tessy_factory.engine.text_model import GenerationFailed
from tessy_factory.engine.writers import load_writers

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
MODES = (GenerationMode.TESSY, GenerationMode.TEACHER_ONLY)


def timed_sample(
    prompt: str,
    mode: GenerationMode,
    writers: tuple[Writer, Writer],
    config: BuildConfig,
    seed: int,
) -> tuple[float, bool]:
    """(seconds, whether a sample came out) of one attempt."""
    started = time.perf_counter()
    try:
        asyncio.run(generate_sample(prompt, mode, *writers, config.generation, seed))
    except GenerationFailed:
        return time.perf_counter() - started, False
    return time.perf_counter() - started, True


def run(models_root: Path, prompts: int, repeats: int) -> dict:
    """Medians per mode over `repeats` rounds of the first `prompts` demo prompts."""
    config = load_config(DEMO_CONFIG)
    writers = load_writers(config, models_root)
    problems = build_problems(prompts, config.sources[0].seed)
    times: dict[GenerationMode, list[float]] = {mode: [] for mode in MODES}
    failed = dict.fromkeys(MODES, 0)
    pair = 0
    for round_ in range(repeats):
        for index, problem in enumerate(problems):
            for mode in MODES[:: 1 - 2 * (pair % 2)]:
                seconds, ok = timed_sample(
                    problem.text, mode, writers, config, round_ * 1000 + index
                )
                times[mode].append(seconds)
                failed[mode] += not ok
            pair += 1
    medians = {mode: statistics.median(values) for mode, values in times.items()}
    return {"pairs": pair, "medians": medians, "failed": failed}


def print_table(result: dict) -> None:
    medians, failed = result["medians"], result["failed"]
    tessy, teacher = medians[GenerationMode.TESSY], medians[GenerationMode.TEACHER_ONLY]
    print(f"{'pairs':>6} {'tessy s':>8} {'teacher-only s':>15} {'tessy/teacher-only':>19} failed")
    print(
        f"{result['pairs']:>6} {tessy:>8.3f} {teacher:>15.3f} {tessy / teacher:>18.2f}x "
        f"{failed[GenerationMode.TESSY]} / {failed[GenerationMode.TEACHER_ONLY]}"
    )
