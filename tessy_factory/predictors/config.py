"""The configuration of a predictor training run, read from a YAML file (the flow names it).

One run trains both boundary predictors a TESSY build needs: the teacher's, on the
teacher's thinking, and the student's, on the student's. Each is registered by name
(`<name>-teacher`, `<name>-student`) so a build config refers to it as
`registered:<name>-teacher`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tessy_factory.config import (
    DEFAULT_STYLE_PHRASES,
    STUDENT_CHUNK_TOKENS,
    TEACHER_CHUNK_TOKENS,
    DemoSource,
    GenerationConfig,
    ModelConfig,
    PromptSource,
    Strict,
    load_yaml_model,
    with_defaults,
)
from tessy_factory.fingerprint import RUNTIME, fingerprint


class TraceSource(Strict):
    """Thinking traces of one model: sampled from it on the run's prompts (any backend of
    the engine), or read from a JSONL file with a `text` field per line."""

    model: ModelConfig | None = Field(None, description="Sample traces from this model.")
    file: str | None = Field(
        None,
        description="JSONL of existing traces; a text with `<think>` gives its thinking part.",
    )
    samples_per_prompt: int = Field(1, ge=1, le=64, description="Traces sampled per prompt.")

    @model_validator(mode="after")
    def _one_source(self) -> TraceSource:
        if (self.model is None) == (self.file is None):
            raise ValueError("set exactly one of model (to sample traces) or file (to read them)")
        return self


class WindowConfig(Strict):
    """The random word windows the annotator labels (the reference: 60 words, ~10k)."""

    words: int = Field(60, ge=1, description="Words per window.")
    count: int = Field(10_000, ge=1, description="Windows per predictor.")
    seed: int = Field(0, description="Seed of the window draw.")


class AnnotatorConfig(Strict):
    """Who marks the style spans: an LLM through the engine's backends, or the lexicon."""

    kind: Literal["lexicon", "model"] = Field(
        "lexicon", description="lexicon: listed phrases, offline; model: an LLM annotator."
    )
    model: ModelConfig | None = Field(None, description="The annotator LLM (kind: model).")
    max_new_tokens: int = Field(512, ge=16, description="Tokens an annotator answer may take.")
    concurrency: int = Field(
        16,
        ge=1,
        description="Windows annotated at once on a server.",
        json_schema_extra=RUNTIME,
    )
    phrases: list[str] = Field(
        default_factory=lambda: list(DEFAULT_STYLE_PHRASES),
        description="The style phrases (kind: lexicon).",
    )

    @model_validator(mode="after")
    def _model_needs_model(self) -> AnnotatorConfig:
        if self.kind == "model" and self.model is None:
            raise ValueError("an annotator of kind model needs a model")
        return self


class TrainingConfig(Strict):
    """How each predictor is trained (the reference: AdamW, lr 1e-5, batch 32, 3 epochs,
    max length 512, 5% validation, the best token accuracy kept)."""

    base_model: str = Field(
        description="Hub id, local directory or miniature:teacher|student; a token-"
        "classification head of 2 labels is put on it."
    )
    epochs: float = Field(3.0, gt=0)
    learning_rate: float = Field(1e-5, gt=0)
    batch_size: int = Field(32, ge=1)
    max_length: int = Field(512, ge=8, description="Tokens per training window at most.")
    validation_share: float = Field(0.05, gt=0, lt=1, description="Held out for evaluation.")
    seed: int = 0


class RoleConfig(Strict):
    """One predictor: the traces it learns from, and the chunk size its model writes."""

    traces: TraceSource
    chunk_tokens: int = Field(
        TEACHER_CHUNK_TOKENS,
        ge=1,
        description="The engine's chunk size for this model, for the boundary metric; the "
        f"student's default is {STUDENT_CHUNK_TOKENS}, as in a build.",
    )


class PredictorTrainingConfig(Strict):
    """Everything one predictor training run needs."""

    name: str = Field(
        "miniature",
        pattern=r"^[\w.-]+$",
        description="Registered as `<name>-teacher` and `<name>-student`.",
    )
    home: str | None = Field(
        None,
        description="Factory home; default $TESSY_HOME or ./.tessy.",
        json_schema_extra=RUNTIME,
    )
    sources: list[PromptSource] = Field(
        default_factory=lambda: [DemoSource()], min_length=1, description="Prompts to sample on."
    )
    teacher: RoleConfig
    student: RoleConfig
    sampling: GenerationConfig = Field(
        default_factory=GenerationConfig,
        description="Trace sampling: max_total_tokens, concurrency, seed, end_of_thinking.",
    )
    windows: WindowConfig = Field(default_factory=WindowConfig)
    annotator: AnnotatorConfig = Field(default_factory=AnnotatorConfig)
    training: TrainingConfig

    @field_validator("student", mode="before")
    @classmethod
    def _student_chunk_default(cls, student: Any) -> Any:
        return with_defaults(student, {"chunk_tokens": STUDENT_CHUNK_TOKENS})

    def role(self, role: str) -> RoleConfig:
        return self.teacher if role == "teacher" else self.student

    def fingerprint(self) -> str:
        """A stable hash of everything that shapes the predictors (runtime keys left out)."""
        return fingerprint(self)


def load_training_config(
    path: str | Path, overrides: Mapping[str, Any] | None = None
) -> PredictorTrainingConfig:
    """Read a YAML predictor training config with `overrides` merged in; errors name the
    file, field and problem."""
    return load_yaml_model(path, PredictorTrainingConfig, overrides)
