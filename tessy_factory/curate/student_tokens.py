"""The student's tokenizer as the unit of near-duplicate shingles (`curation.near_dup.<text>
.shingle: tokens`): rows are compared in the tokens the student is trained on.

It is the tokenizer the style metrics read (`student_nll.Student`): the model's own on the
`local` backend, `student.tokenizer` (default the model) on a served one. Its name in the
sketch id is that reference and the revision the run recorded for it (README: the published
rows' manifest), so signatures of two tokenizers, or of two revisions of one, never compare.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from tessy_factory.config import BuildConfig, ModelConfig
from tessy_factory.curate.near_dup import Tokenizer
from tessy_factory.curate.student_nll import load_tokenizer
from tessy_factory.engine.local_model import ModelLoadError
from tessy_factory.miniature.build import resolve_model
from tessy_factory.publish.revisions import model_revisions, stored_revisions


def near_dup_tokenizer(
    con: duckdb.DuckDBPyConnection, run_id: str, config: BuildConfig, models_root: Path
) -> Tokenizer | None:
    """The student's tokenizer when an enabled near-duplicate text is shingled by tokens,
    else None, and nothing is loaded; ModelLoadError naming the model when it cannot load."""
    texts = config.curation.near_dup.enabled()
    if all(text.shingle == "words" for text in texts.values()):
        return None
    place, reference = tokenizer_reference(config.student)
    try:
        loaded = load_tokenizer(resolve_model(reference, models_root, predictor=False), reference)
    except (ModelLoadError, ValueError) as exc:
        raise ModelLoadError(f"curation.near_dup (shingle: tokens): {exc}") from exc
    # A run whose samples were all written before revisions were kept has none stored.
    found = (stored_revisions(run_id, con) or {}).get(place)
    revision = (found or model_revisions(config, models_root, con)[place])["revision"]

    def encode(batch: list[str]) -> list[list[int]]:
        # verbose=False: a text longer than the model's context is no fault here.
        return loaded(batch, add_special_tokens=False, verbose=False)["input_ids"]

    return Tokenizer(f"{reference}@{revision or 'unknown'}", encode)


def tokenizer_reference(student: ModelConfig) -> tuple[str, str]:
    """Where the student's tokenizer is named in the config, and the reference there."""
    if student.backend == "openai" and student.tokenizer:
        return "student.tokenizer", student.tokenizer
    return "student", student.model
