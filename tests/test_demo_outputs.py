"""The demo build's samples for a seed, fixed: speed work on the engine must not change them.

`tests/data/demo_outputs.json` holds what the engine wrote, before the speed-up of issue 12
item 9 (commit fef9e19), for the first demo prompts in each mode with the demo config
(local backend, trained boundary predictors, chunks of 10 and 5). Write it afresh only for
a change meant to alter the samples:

    PYTHONPATH=$PWD .venv/bin/python tests/test_demo_outputs.py
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from tessy_factory.config import BuildConfig, GenerationMode, load_config
from tessy_factory.demo.problems import build_problems
from tessy_factory.engine.loop import Writer, generate_sample
from tessy_factory.engine.text_model import GenerationFailed
from tessy_factory.engine.writers import load_writers

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "data" / "demo_outputs.json"
DEMO_CONFIG = REPO / "configs" / "demo.yaml"
PROMPTS = 8


def demo_outputs(models_root: Path) -> dict[str, dict]:
    """Each mode's sample (text, spans, switches) or failure for the first demo prompts."""
    config = load_config(DEMO_CONFIG)
    teacher, student = load_writers(config, models_root)
    problems = build_problems(PROMPTS, config.sources[0].seed)
    return {
        f"{mode.value} {index}": _outcome(problem.text, mode, teacher, student, config, index)
        for mode in config.generation.modes
        for index, problem in enumerate(problems)
    }


def _outcome(
    prompt: str,
    mode: GenerationMode,
    teacher: Writer,
    student: Writer,
    config: BuildConfig,
    seed: int,
) -> dict:
    try:
        sample = asyncio.run(
            generate_sample(prompt, mode, teacher, student, config.generation, seed)
        )
    except GenerationFailed as failure:
        return {"failed": str(failure)}
    return {"text": sample.text, "spans": sample.spans_json(), "switches": sample.n_switches}


@pytest.fixture(scope="module")
def outputs(models_root: Path) -> dict[str, dict]:
    return demo_outputs(models_root)


def test_the_demo_samples_for_a_seed_are_those_the_engine_wrote_before(outputs) -> None:
    golden = json.loads(GOLDEN.read_text())
    assert outputs.keys() == golden.keys()
    changed = [key for key in golden if outputs[key] != golden[key]]
    assert not changed, f"samples changed for the same seed: {changed}"


def test_the_fixture_holds_tessy_samples_with_switches() -> None:
    # A fixture of failures alone would fix little of the loop.
    golden = json.loads(GOLDEN.read_text())
    tessy = [golden[f"tessy {index}"] for index in range(PROMPTS)]
    assert sum(outcome.get("switches", 0) >= 2 for outcome in tessy) >= PROMPTS // 2


if __name__ == "__main__":
    from tessy_factory.home import FactoryHome

    root = Path(sys.argv[1]) if len(sys.argv) > 1 else FactoryHome.resolve(None).models
    GOLDEN.write_text(json.dumps(demo_outputs(root), indent=1, sort_keys=True) + "\n")
