"""Load the teacher and student writers a build needs, resolving miniature model names.

Every model is loaded, and every served one asked for a token, before anything is
generated: a model that cannot load fails the build at once, naming its config key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from tessy_factory.config import LEXICON, BuildConfig, GenerationMode, ModelConfig, PredictorConfig
from tessy_factory.db import connect
from tessy_factory.engine.batching import LabelBatcher
from tessy_factory.engine.lexicon import LexiconPredictor
from tessy_factory.engine.local_model import LocalModel, ModelLoadError
from tessy_factory.engine.loop import Writer
from tessy_factory.engine.openai_model import OpenAIModel
from tessy_factory.engine.predictor import BoundaryPredictor, Predictor
from tessy_factory.engine.text_model import TextModel
from tessy_factory.miniature.build import resolve_model
from tessy_factory.predictors.registry import REGISTERED, registered_path


def load_writers(
    config: BuildConfig,
    models_root: Path,
    database: Path | None = None,
    registered_paths: Mapping[str, str] | None = None,
) -> tuple[Writer | None, Writer | None]:
    """(teacher, student), each None when no requested mode uses it. `database` is the
    factory's, where `registered:` predictor names resolve; a worker without it is given
    them resolved (`registered_paths`, from `resolve_registered`)."""
    modes = set(config.generation.modes)
    cooperative = GenerationMode.TESSY in modes
    # Every mode but one uses both models.
    needs_teacher = modes != {GenerationMode.STUDENT_ONLY}
    needs_student = modes != {GenerationMode.TEACHER_ONLY}
    roles = (
        ("teacher", needs_teacher, config.teacher, config.teacher_predictor),
        ("student", needs_student, config.student, config.student_predictor),
    )
    writers = []
    for role, needed, model_config, predictor_config in roles:
        if not needed:
            writers.append(None)
            continue
        predictor = None
        if cooperative:
            predictor = LabelBatcher(
                _as_key(
                    f"{role}_predictor.model",
                    load_predictor,
                    predictor_config,
                    models_root,
                    database,
                    registered_paths,
                ),
                predictor_config.batch_size,
            )
        model = _as_key(f"{role}.model", load_model, model_config, models_root)
        writers.append(Writer(role, model, predictor))
    return writers[0], writers[1]


Loaded = TypeVar("Loaded")


def _as_key(key: str, load: Callable[..., Loaded], *args: object) -> Loaded:
    """`load(*args)`, its failure a ModelLoadError that names the config key it came from."""
    try:
        return load(*args)
    except (ModelLoadError, ValueError, OSError) as exc:
        raise ModelLoadError(f"{key}: {exc}") from exc


def load_model(config: ModelConfig, models_root: Path) -> TextModel:
    """The generating model of `config` on its backend; a served one has answered."""
    if config.backend == "openai":
        tokenizer = resolve_model(config.tokenizer or config.model, models_root, predictor=False)
        served = OpenAIModel(config.model, tokenizer, config)
        asyncio.run(served.probe())
        return served
    return LocalModel(
        config.model, resolve_model(config.model, models_root, predictor=False), config
    )


def load_predictor(
    config: PredictorConfig,
    models_root: Path,
    database: Path | None = None,
    registered_paths: Mapping[str, str] | None = None,
) -> Predictor:
    """A trained boundary predictor, or the lexicon one when the config names `lexicon`."""
    if config.model == LEXICON:
        return LexiconPredictor(LEXICON, config.phrases)
    if registered_paths is not None and config.model in registered_paths:
        path = registered_paths[config.model]
    elif config.model.startswith(REGISTERED):
        if database is None:
            raise ValueError(f"predictor {config.model!r}: no factory database to look it up in")
        with connect(database) as con:
            path = str(registered_path(con, config.model))
    else:
        path = resolve_model(config.model, models_root, predictor=True)
    return BoundaryPredictor(config.model, path, config)


def resolve_registered(config: BuildConfig, database: Path) -> dict[str, str]:
    """The directory of each `registered:` predictor the build names, looked up in the
    factory's database, for a worker that has no access to it."""
    names = {config.teacher_predictor.model, config.student_predictor.model}
    wanted = sorted(name for name in names if name.startswith(REGISTERED))
    if not wanted:
        return {}
    with connect(database) as con:
        return {name: str(registered_path(con, name)) for name in wanted}
