"""Benchmark: a tessy sample against a teacher-only one, end to end, as the demo build runs them.

The demo config's models (the trained miniature teacher and student), its boundary
predictors, chunk sizes, caps and sampling, on the demo prompts: the figure the build
report prints as "a tessy sample took Nx the wall time of a teacher-only one", here as
medians of samples run in adjacent pairs, their order swapped every pair, so drift on a
noisy machine hits both modes alike. The process's CPU seconds are shown beside the wall
seconds (on a machine shared with other work they move less with its load), and the wall
time per token written, since a tessy sample is longer than a teacher-only one.
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
) -> dict[str, float] | None:
    """Wall and CPU seconds and tokens (thinking and answer) of one sample; None when the
    attempt failed."""
    started, cpu = time.perf_counter(), time.process_time()
    try:
        sample = asyncio.run(generate_sample(prompt, mode, *writers, config.generation, seed))
    except GenerationFailed:
        return None
    wall = time.perf_counter() - started
    tokens = sum(span.tokens for span in sample.spans)
    return {
        "wall s": wall,
        "cpu s": time.process_time() - cpu,
        "tokens": tokens,
        "wall ms / token": 1000 * wall / tokens,
    }


def run(models_root: Path, prompts: int, repeats: int) -> dict:
    """Per mode, the medians of each measure over `repeats` rounds of the first `prompts`
    demo prompts, and the failed attempts."""
    config = load_config(DEMO_CONFIG)
    writers = load_writers(config, models_root)
    problems = build_problems(prompts, config.sources[0].seed)
    samples: dict[GenerationMode, list[dict[str, float]]] = {mode: [] for mode in MODES}
    failed = dict.fromkeys(MODES, 0)
    pair = 0
    for round_ in range(repeats):
        for index, problem in enumerate(problems):
            for mode in MODES[:: 1 - 2 * (pair % 2)]:
                measured = timed_sample(problem.text, mode, writers, config, round_ * 1000 + index)
                if measured is None:
                    failed[mode] += 1
                else:
                    samples[mode].append(measured)
            pair += 1
    medians = {
        mode: {key: statistics.median(m[key] for m in measured) for key in measured[0]}
        for mode, measured in samples.items()
    }
    return {"pairs": pair, "medians": medians, "failed": failed}


def print_table(result: dict) -> None:
    tessy = result["medians"][GenerationMode.TESSY]
    teacher = result["medians"][GenerationMode.TEACHER_ONLY]
    print(f"{'median per sample':>18} {'tessy':>8} {'teacher-only':>13} {'tessy/teacher-only':>19}")
    for key in tessy:
        ratio = tessy[key] / teacher[key]
        print(f"{key:>18} {tessy[key]:>8.3f} {teacher[key]:>13.3f} {ratio:>18.2f}x")
    failed = result["failed"]
    print(
        f"{result['pairs']} pairs; failed attempts: tessy {failed[GenerationMode.TESSY]}, "
        f"teacher-only {failed[GenerationMode.TEACHER_ONLY]}"
    )
