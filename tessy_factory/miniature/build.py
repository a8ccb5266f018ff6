"""Build (once) and cache the miniature teacher, student and their boundary predictors.

Random-weight models never close their thinking block, so the offline demo and the tests
need small *trained* models. Everything is built from the demo problem family with no
download, in about three and a half minutes on one core, and cached under the factory home
keyed by `MINIATURE_VERSION` (bump it when the styles, tokenizer or shapes change) and the
world (`styles.WORLDS`): `miniature:ROLE` names the demo world's models, and
`miniature-WORLD:ROLE` another world's.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from filelock import FileLock
from transformers import Qwen3ForCausalLM, Qwen3ForTokenClassification

from tessy_factory.demo.problems import TASK_KINDS, training_problems
from tessy_factory.miniature.styles import (
    DEFAULT_WORLD,
    WORLDS,
    Trace,
    World,
    student_trace,
    teacher_trace,
)
from tessy_factory.miniature.tokenizer import train_tokenizer
from tessy_factory.miniature.train import (
    CLASSIFIER_LABELS,
    Schedule,
    Shape,
    lm_example,
    predictor_example,
    train_model,
)

MINIATURE_VERSION = "4"
ROLES = ("teacher", "student")


@dataclass(frozen=True)
class Recipe:
    """What one role's miniature models are built from."""

    write: Callable
    lm_shape: Shape
    predictor_shape: Shape
    vocab_size: int
    lm_schedule: Schedule
    predictor_schedule: Schedule
    # How much the final answer's tokens weigh in the LM's loss.
    answer_weight: float = 1.0


TRAINING_SEED = 1
PREDICTOR_SCHEDULE = Schedule(steps=150, learning_rate=1e-2, seed=TRAINING_SEED)
# The LMs' attention heads are 32 wide, the narrowest vLLM's CPU attention accepts (it refuses
# the 16 and 12 of hidden / 4 heads: "Unsupported CPU attention configuration"), so that vLLM
# can serve them: two query heads sharing one key/value head. The teacher's attention keeps
# its size (4 x 16 query, 2 x 16 key/value); the student's grows from 48 to 64 wide.
LM_HEADS = {"heads": 2, "kv_heads": 1, "head_dim": 32}
RECIPES = {
    # The teacher only has to tell the tasks apart and write them out, in any company: three
    # layers do, and a higher learning rate leaves it less sure of which task it is on.
    "teacher": Recipe(
        teacher_trace,
        Shape(hidden=64, layers=3, **LM_HEADS),
        Shape(hidden=32, layers=2),
        1000,
        Schedule(steps=400, learning_rate=5e-3, seed=TRAINING_SEED),
        PREDICTOR_SCHEDULE,
    ),
    # The student must also copy its thinking's code into its answer, which a small model
    # learns late: more steps at a higher rate, with the answer weighing more in the loss.
    "student": Recipe(
        student_trace,
        Shape(hidden=48, layers=4, **LM_HEADS),
        Shape(hidden=32, layers=2),
        800,
        Schedule(steps=600, learning_rate=1e-2, seed=TRAINING_SEED),
        PREDICTOR_SCHEDULE,
        answer_weight=4.0,
    ),
}
N_TRACES = 3000


def miniature_dir(models_root: Path, world: str = DEFAULT_WORLD) -> Path:
    """Where `world`'s models are cached; the demo world's keep their unsuffixed name."""
    suffix = "" if world == DEFAULT_WORLD else f"-{_world(world).name}"
    return models_root / f"miniature-v{MINIATURE_VERSION}{suffix}"


def resolve_model(name: str, models_root: Path, *, predictor: bool) -> str:
    """Map `miniature[-WORLD]:teacher|student` to its built directory (building it if
    missing); other names pass through."""
    head, _, role = name.partition(":")
    if head != "miniature" and not head.startswith("miniature-"):
        return name
    world = head.removeprefix("miniature").removeprefix("-") or DEFAULT_WORLD
    if role not in ROLES or world not in WORLDS:
        raise ValueError(
            f"unknown miniature model {name!r}: use miniature:teacher or miniature:student, "
            f"or miniature-WORLD:ROLE for a world of {sorted(WORLDS)}"
        )
    root = ensure_miniature(models_root, world=world)
    return str(root / (f"{role}-predictor" if predictor else role))


def ensure_miniature(
    models_root: Path, log: Callable[[str], None] = print, world: str = DEFAULT_WORLD
) -> Path:
    """`world`'s cached miniature models, building them first if they are missing."""
    root = miniature_dir(models_root, world)
    if (root / "manifest.json").is_file():
        return root
    models_root.mkdir(parents=True, exist_ok=True)
    # Builds, flows and test workers may ask at once: one builds, the others wait for it.
    with FileLock(f"{root}.lock"):
        if not (root / "manifest.json").is_file():
            _build_all(root, _world(world), log)
    return root


def _world(name: str) -> World:
    if name not in WORLDS:
        raise ValueError(f"unknown miniature world {name!r}: use one of {sorted(WORLDS)}")
    return WORLDS[name]


def world_traces(role: str, world: World, count: int, seed: int) -> list[Trace]:
    """The training traces of `role` in `world`: only the teacher's reading differs."""
    write = RECIPES[role].write
    if role == "teacher":
        write = partial(write, read_rate=world.read_rate)
    return write_traces(write, count, seed)


def _build_all(root: Path, world: World, log: Callable[[str], None]) -> None:
    started = time.perf_counter()
    staging = root.with_name(root.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    manifest = {
        "version": MINIATURE_VERSION,
        "world": world.name,
        "teacher_read_rate": world.read_rate,
        "traces": N_TRACES,
        "roles": {},
    }
    for role in ROLES:
        manifest["roles"][role] = _build_role(role, world, staging, log)
    manifest["build_seconds"] = round(time.perf_counter() - started, 1)
    log(f"miniature: built in {manifest['build_seconds']} s")
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
    # Rename last, so an interrupted build never leaves a half-built cache that looks done.
    shutil.rmtree(root, ignore_errors=True)
    staging.rename(root)


def _build_role(role: str, world: World, staging: Path, log: Callable[[str], None]) -> dict:
    recipe = RECIPES[role]
    traces = world_traces(role, world, N_TRACES, TRAINING_SEED)
    corpus = [trace.prompt for trace in traces] + [trace.completion for trace in traces]
    tokenizer = train_tokenizer(corpus, recipe.vocab_size)
    started = time.perf_counter()
    lm = train_model(
        Qwen3ForCausalLM,
        [lm_example(trace, tokenizer, recipe.answer_weight) for trace in traces],
        recipe.lm_shape,
        tokenizer,
        recipe.lm_schedule,
        _progress(log, f"{role} LM"),
        eos_token_id=tokenizer.eos_token_id,
    )
    lm_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predictor = train_model(
        Qwen3ForTokenClassification,
        [predictor_example(trace, tokenizer) for trace in traces],
        recipe.predictor_shape,
        tokenizer,
        recipe.predictor_schedule,
        _progress(log, f"{role} boundary predictor"),
        **CLASSIFIER_LABELS,
    )
    predictor_seconds = time.perf_counter() - started
    for model, name in ((lm, role), (predictor, f"{role}-predictor")):
        model.save_pretrained(staging / name)
        tokenizer.save_pretrained(staging / name)
    return {
        "lm_parameters": lm.num_parameters(),
        "predictor_parameters": predictor.num_parameters(),
        "lm_seconds": round(lm_seconds, 1),
        "predictor_seconds": round(predictor_seconds, 1),
    }


def write_traces(write: Callable, count: int, seed: int) -> list[Trace]:
    """`count` traces in one style over the training instances of the demo family."""
    kinds = {kind.name: kind for kind in TASK_KINDS}
    rng = random.Random(seed)
    return [write(problem, kinds[problem.kind], rng) for problem in training_problems(count, seed)]


def _progress(log: Callable[[str], None], what: str) -> Callable[[int, float], None]:
    def report(step: int, loss: float) -> None:
        if step % 100 == 0:
            log(f"miniature: {what} step {step}, loss {loss:.3f}")

    return report
