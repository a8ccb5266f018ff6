"""The configuration of a downstream probe, read from a YAML file (the flow names it).

A probe fine-tunes a fresh copy of the student on each generation mode's rows of one
published dataset version, then lets each fine-tuned student answer held-out problems alone
and judges the answers with the factory's verifier (the paper's Table 1, per version).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tessy_factory.config import (
    ROLE_DEFAULTS,
    DemoSource,
    GenerationConfig,
    ModelConfig,
    PromptSource,
    ReportConfig,
    Strict,
    VerificationConfig,
    load_yaml_model,
    with_defaults,
)
from tessy_factory.fingerprint import RUNTIME, fingerprint

# The name of the untrained student's row in a probe's table.
BASELINE = "untrained"
LATEST = "latest"


class DatasetRef(Strict):
    """The published version to probe."""

    repo_id: str = Field("tessy/demo", description="Dataset repository, owner/name.")
    version: str = Field(
        LATEST, description="A version (vYYYY.MM.DD-N), or latest: the newest one."
    )
    target: Literal["local", "hub"] = Field(
        "local", description="local: the factory home's hub; hub: the Hugging Face Hub."
    )
    token_env: str = Field(
        "HF_TOKEN",
        description="Environment variable holding the Hub token (target hub).",
        json_schema_extra=RUNTIME,
    )


class LoraConfig(Strict):
    """LoRA adapters through peft, for students too large to fine-tune whole."""

    enabled: bool = Field(False, description="Train LoRA adapters instead of every weight.")
    r: int = Field(16, ge=1, description="Rank of the adapters.")
    alpha: int = Field(32, ge=1, description="Scaling numerator (alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        description="Module names the adapters wrap.",
    )


class ProbeTraining(Strict):
    """How each mode's student is fine-tuned (AdamW, linear warm-up, cosine decay)."""

    epochs: int = Field(3, ge=1)
    learning_rate: float = Field(1e-5, gt=0)
    batch_size: int = Field(8, ge=1)
    max_length: int = Field(
        4096, ge=16, description="Tokens per row at most; longer rows are left out, counted."
    )
    warmup_share: float = Field(0.1, ge=0, lt=1, description="Share of the steps warming up.")
    seed: int = 0
    lora: LoraConfig = Field(default_factory=LoraConfig)


class ProbeEvaluation(Strict):
    """The held-out problems and how each student answers them."""

    sources: list[PromptSource] = Field(
        default_factory=lambda: [DemoSource(split="probe", count=56, seed=11)],
        min_length=1,
        description="Held-out problems, as a build's sources.",
    )
    samples: int = Field(1, ge=1, le=64, description="Answers per problem (n of pass@k).")
    pass_k: list[int] = Field(
        default_factory=lambda: [1], description="The k of each pass@k reported (k <= samples)."
    )
    generation: GenerationConfig = Field(
        default_factory=GenerationConfig,
        description="max_total_tokens, answer_max_tokens, seed, end_of_thinking, repetition.",
    )
    nll_batch_size: int = Field(8, ge=1, description="Rows per forward pass of the NLL.")

    @model_validator(mode="after")
    def _k_within_samples(self) -> ProbeEvaluation:
        wrong = [k for k in self.pass_k if not 1 <= k <= self.samples]
        if wrong:
            raise ValueError(f"pass_k {wrong}: each k must be from 1 to samples ({self.samples})")
        return self


class ProbeConfig(Strict):
    """Everything one probe needs."""

    name: str = Field("probe", pattern=r"^[\w.-]+$", description="Name of the probe.")
    home: str | None = Field(
        None,
        description="Factory home; default $TESSY_HOME or ./.tessy.",
        json_schema_extra=RUNTIME,
    )
    dataset: DatasetRef = Field(default_factory=DatasetRef)
    student: ModelConfig = Field(
        default_factory=lambda: ModelConfig(**ROLE_DEFAULTS["student"]),
        description="The student to fine-tune (local backend); its sampling settings answer.",
    )
    modes: list[str] | None = Field(
        None, description="Modes to probe; default every mode the version has."
    )
    baseline: bool = Field(True, description="Evaluate the untrained student too.")
    training: ProbeTraining = Field(default_factory=ProbeTraining)
    evaluation: ProbeEvaluation = Field(default_factory=ProbeEvaluation)
    verification: VerificationConfig = Field(default_factory=VerificationConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    keep_checkpoints: bool = Field(
        False, description="Keep each mode's fine-tuned student under models/probes/."
    )

    @field_validator("student", mode="before")
    @classmethod
    def _student_defaults(cls, section: Any) -> Any:
        return with_defaults(section, ROLE_DEFAULTS["student"])

    @model_validator(mode="after")
    def _local_student(self) -> ProbeConfig:
        if self.student.backend != "local":
            raise ValueError("student.backend: a probe fine-tunes the student in-process: local")
        return self

    def fingerprint(self) -> str:
        """A stable hash of everything that shapes the probe's figures (runtime keys out):
        a re-run of the same probe on the same version resumes its finished modes."""
        return fingerprint(self)


def load_probe_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> ProbeConfig:
    """Read a YAML probe config with `overrides` merged in; errors name the file, field and
    problem."""
    return load_yaml_model(path, ProbeConfig, overrides)
