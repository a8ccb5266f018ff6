"""Load the teacher and student writers a build needs, resolving miniature model names."""

from __future__ import annotations

from pathlib import Path

from tessy_factory.config import LEXICON, BuildConfig, GenerationMode, ModelConfig, PredictorConfig
from tessy_factory.db import connect
from tessy_factory.engine.batching import LabelBatcher
from tessy_factory.engine.lexicon import LexiconPredictor
from tessy_factory.engine.local_model import LocalModel
from tessy_factory.engine.loop import Writer
from tessy_factory.engine.openai_model import OpenAIModel
from tessy_factory.engine.predictor import BoundaryPredictor, Predictor
from tessy_factory.engine.text_model import TextModel
from tessy_factory.miniature.build import resolve_model
from tessy_factory.predictors.registry import REGISTERED, registered_path


def load_writers(
    config: BuildConfig, models_root: Path, database: Path | None = None
) -> tuple[Writer | None, Writer | None]:
    """(teacher, student), each None when no requested mode uses it. `database` is the
    factory's, where `registered:` predictor names resolve."""
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
                load_predictor(predictor_config, models_root, database),
                predictor_config.batch_size,
            )
        writers.append(Writer(role, load_model(model_config, models_root), predictor))
    return writers[0], writers[1]


def load_model(config: ModelConfig, models_root: Path) -> TextModel:
    """The generating model of `config` on its backend."""
    if config.backend == "openai":
        tokenizer = resolve_model(config.tokenizer or config.model, models_root, predictor=False)
        return OpenAIModel(config.model, tokenizer, config)
    return LocalModel(
        config.model, resolve_model(config.model, models_root, predictor=False), config
    )


def load_predictor(
    config: PredictorConfig, models_root: Path, database: Path | None = None
) -> Predictor:
    """A trained boundary predictor, or the lexicon one when the config names `lexicon`."""
    if config.model == LEXICON:
        return LexiconPredictor(LEXICON, config.phrases)
    if config.model.startswith(REGISTERED):
        if database is None:
            raise ValueError(f"predictor {config.model!r}: no factory database to look it up in")
        with connect(database) as con:
            path = str(registered_path(con, config.model))
    else:
        path = resolve_model(config.model, models_root, predictor=True)
    return BoundaryPredictor(config.model, path, config)
