"""The build configuration: one pydantic model, read from a YAML file.

The flow takes the file's path and overrides (`tessy_factory/overrides.py`), so `tessy build`,
the Prefect UI and deployments read the same file and run the same validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tessy_factory.curate.decontam_config import DecontaminationConfig
from tessy_factory.curate.near_dup_config import NearDupConfig
from tessy_factory.fingerprint import RUNTIME, fingerprint
from tessy_factory.miniature.styles import STUDENT_PHRASES, TEACHER_PHRASES
from tessy_factory.overrides import OverrideError, merged, nested
from tessy_factory.strict import Strict

# Filler common to reasoning models, plus both miniature styles, for the lexicon predictor.
DEFAULT_STYLE_PHRASES = (
    *STUDENT_PHRASES,
    *TEACHER_PHRASES,
    "Hmm",
    "Wait",
    "Okay",
    "Alright",
    "Actually",
    "Let me",
    "I think",
)


ModelT = TypeVar("ModelT", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration file or value is unusable; the message names the field and the problem."""


# Keys of the comparison before it took problemtools' flags, and what replaces each.
RENAMED_COMPARISON_KEYS = {
    "mode": "space_change_sensitive and case_sensitive (both true for the old exact mode)",
    "ignore_case": "case_sensitive (now false by default: case is ignored)",
    "float_abs_tol": "float_absolute_tolerance",
    "float_rel_tol": "float_relative_tolerance",
}


class OutputComparison(Strict):
    """How a stdio case's output is compared with the expected output: the flags of the
    standard judges' default output validator (problemtools), with its defaults.

    Outputs are compared as bytes, token by token (tokens are separated by whitespace).
    `float_tolerance` sets both tolerances; one given beside it in the same place wins.
    """

    case_sensitive: bool = Field(
        False, description="Compare tokens case-sensitively (ASCII letters); default: ignore case."
    )
    space_change_sensitive: bool = Field(
        False,
        description="Reject changes in the amount of whitespace; default: any run of "
        "whitespace equals any other.",
    )
    float_relative_tolerance: float | None = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="A number in the expected output accepts a number within this error "
        "relative to the expected one.",
    )
    float_absolute_tolerance: float | None = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="A number in the expected output accepts a number within this absolute error.",
    )
    float_tolerance: float | None = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="Both tolerances at once (each unless given itself).",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_renamed_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for old, new in RENAMED_COMPARISON_KEYS.items():
                if old in data:
                    raise ValueError(f"{old!r} is no longer a comparison key; use {new}")
        return data

    @model_validator(mode="after")
    def _tolerance_sets_both(self) -> OutputComparison:
        # Set here, the two count as given (`given`), so a source's or problem's
        # float_tolerance overrides a specific tolerance of the layer below.
        if self.float_tolerance is not None:
            for name in ("float_relative_tolerance", "float_absolute_tolerance"):
                if name not in self.model_fields_set:
                    setattr(self, name, self.float_tolerance)
        return self

    def overridden_by(self, flags: dict[str, Any]) -> OutputComparison:
        """This comparison with `flags` (a source's, a problem's) in place of its own."""
        return OutputComparison.model_validate({**self.given(), **flags})

    def given(self) -> dict[str, Any]:
        """The flags set explicitly, float_tolerance as the two tolerances it set."""
        return self.model_dump(exclude_unset=True, exclude={"float_tolerance"})


class SourceBase(Strict):
    """What every prompt source may carry besides its rows."""

    comparison: OutputComparison | None = Field(
        None,
        description="Comparison flags for this source's stdio problems, over "
        "verification.comparison (a problem's own flags win).",
    )


class DemoSource(SourceBase):
    """The demo problem family shipped with the factory (held-out instances)."""

    kind: Literal["demo"] = "demo"
    count: int = Field(24, ge=1, le=10_000, description="Number of demo problems to draw.")
    seed: int = Field(2026, description="Seed of the drawn instances.")
    split: Literal["build", "probe"] = Field(
        "build",
        description="build: the held-out instances a demo build asks; probe: instances whose "
        "statements differ from every training and every build statement (a downstream "
        "probe's evaluation problems).",
    )


class HumanEvalSource(SourceBase):
    """OpenAI's HumanEval (164 Python problems with tests and reference solutions), offline."""

    kind: Literal["humaneval"] = "humaneval"
    limit: int | None = Field(None, ge=1, description="Read at most this many problems.")


class FileSource(SourceBase):
    """Prompts from a JSONL or Parquet file with `text` and `tests` columns."""

    kind: Literal["jsonl", "parquet"]
    path: str = Field(description="Path of the file.")
    license: str = Field("unknown", description="License recorded on every prompt of the file.")
    limit: int | None = Field(None, ge=1, description="Read at most this many rows.")


class HFSource(SourceBase):
    """Prompts from a Hugging Face dataset (Hub id or local path) via `datasets`."""

    kind: Literal["hf"] = "hf"
    dataset: str = Field(description="Hub id or local directory of the dataset.")
    split: str = "train"
    subset: str | None = None
    text_field: str = "text"
    tests_field: str = "tests"
    license: str = "unknown"
    limit: int | None = Field(None, ge=1)


class SQLSource(SourceBase):
    """Prompts from a DuckDB SQL query returning `text` and `tests` columns."""

    kind: Literal["duckdb"] = "duckdb"
    query: str = Field(description="SQL run in a fresh in-memory DuckDB connection.")
    license: str = "unknown"
    limit: int | None = Field(None, ge=1)


PromptSource = Annotated[
    DemoSource | HumanEvalSource | FileSource | HFSource | SQLSource, Field(discriminator="kind")
]


# Tokens per turn in the reference code: the teacher 10, the student 5.
TEACHER_CHUNK_TOKENS = 10
STUDENT_CHUNK_TOKENS = 5


def with_defaults(section: Any, defaults: dict[str, Any]) -> Any:
    """A config section as written, with `defaults` for the keys it leaves out: a section
    that sets only `chunk_tokens` keeps its role's default model."""
    if isinstance(section, dict):
        return {**defaults, **section}
    return section


class ModelConfig(Strict):
    """A generating model: a local directory, a Hub id, or `miniature[-WORLD]:teacher|student`."""

    model: str = Field(
        description="Hub id, local directory, or miniature:teacher / miniature:student "
        "(miniature-paper:... for the paper world's)."
    )
    chunk_tokens: int = Field(
        TEACHER_CHUNK_TOKENS,
        ge=1,
        le=512,
        description="Tokens generated per turn (k); the student's default is "
        f"{STUDENT_CHUNK_TOKENS}.",
    )
    temperature: float = Field(0.7, ge=0.0, le=5.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    max_context_tokens: int = Field(4096, ge=64, description="The model's context window.")
    thinking_open: str = Field(
        "<think>\n",
        description="What opens this model's thinking after its chat template's assistant "
        "prompt (GPT-OSS: `<|channel|>analysis<|message|>`).",
    )
    thinking_close: str = Field(
        "\n</think>\n\n",
        description="What ends this model's thinking and opens its answer (GPT-OSS: "
        "`<|end|><|start|>assistant<|channel|>final<|message|>`).",
    )
    backend: Literal["local", "openai"] = Field(
        "local", description="local: transformers in-process; openai: a /v1/completions server."
    )
    base_url: str | list[str] | None = Field(
        None,
        description="openai backend: the server's API root, e.g. http://127.0.0.1:8000/v1, "
        "or a list of the roots of several servers of the model, the least busy taking each "
        "request.",
        json_schema_extra=RUNTIME,
    )
    served_model: str | None = Field(
        None, description="openai backend: the model name the server expects; default `model`."
    )
    tokenizer: str | None = Field(
        None,
        description="openai backend: tokenizer (chat template, token counts); default `model`.",
    )
    api_key_env: str | None = Field(
        None,
        description="openai backend: environment variable holding the API key.",
        json_schema_extra=RUNTIME,
    )
    request_timeout_s: float = Field(
        120.0, gt=0, description="openai backend: per request.", json_schema_extra=RUNTIME
    )
    max_retries: int = Field(
        4,
        ge=0,
        le=20,
        description="openai backend: retries of a request after a transient fault "
        "(unreachable, timeout, 408, 409, 429, 5xx), on another server where there is one.",
        json_schema_extra=RUNTIME,
    )
    retry_backoff_s: float = Field(
        1.0,
        gt=0,
        description="openai backend: how long a server that failed is left out; doubles with "
        "each failure in a row.",
        json_schema_extra=RUNTIME,
    )
    extra_body: dict[str, Any] = Field(
        default_factory=dict,
        description="openai backend: extra request fields the server accepts (vLLM: top_k, min_p).",
    )

    @field_validator("base_url")
    @classmethod
    def _urls(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and not value:
            raise ValueError("base_url: an empty list; give at least one server's API root")
        for url in [value] if isinstance(value, str) else value or []:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"base_url: {url!r} is not an http(s) URL")
        return value

    @property
    def base_urls(self) -> list[str]:
        """The API roots of the model's servers, one or several."""
        return [self.base_url] if isinstance(self.base_url, str) else list(self.base_url or [])

    @model_validator(mode="after")
    def _openai_needs_url(self) -> ModelConfig:
        if self.backend == "openai" and not self.base_url:
            raise ValueError(f"model {self.model!r}: backend openai needs a base_url")
        return self


LEXICON = "lexicon"


class PredictorConfig(Strict):
    """A boundary predictor: a token classifier with 2 labels (0 capability, 1 style), or
    `lexicon`, which labels the listed style phrases and needs no model."""

    model: str = Field(
        description="Hub id, local directory, miniature:teacher / miniature:student, or lexicon."
    )
    context_tokens: int = Field(
        200,
        ge=0,
        description="Tokens of context shown with the chunk, at the least (up to twice as many).",
    )
    batch_size: int = Field(
        32,
        ge=1,
        description="Most chunks classified in one batch, across samples in flight.",
        json_schema_extra=RUNTIME,
    )
    threshold: float = Field(
        0.5, gt=0.0, lt=1.0, description="Style probability for a style label."
    )
    phrases: list[str] = Field(
        default_factory=lambda: list(DEFAULT_STYLE_PHRASES),
        description="Style phrases of the lexicon predictor (model: lexicon only).",
    )


class GenerationMode(StrEnum):
    """Who writes the thinking and who writes the final answer (the paper's comparisons)."""

    TESSY = "tessy"  # cooperative thinking, student answer
    TEACHER_ONLY = "teacher-only"
    STUDENT_ONLY = "student-only"
    TEACHER_THINK = "teacher-think"  # teacher thinking, student answer
    TEACHER_ANSWER = "teacher-answer"  # student thinking, teacher answer


class RepetitionConfig(Strict):
    """When a sample counts as stuck in a loop (the reference: 3-50 words, 8 times, 1,000
    characters)."""

    min_words: int = Field(3, ge=1, description="Shortest repeated fragment, in words.")
    max_words: int = Field(50, ge=1, description="Longest repeated fragment, in words.")
    repeats: int = Field(8, ge=2, description="Copies in a row that make a loop.")
    window_chars: int = Field(1000, ge=10, description="How far back to look.")

    @model_validator(mode="after")
    def _sizes_in_order(self) -> RepetitionConfig:
        # With min_words over max_words no fragment size is tried: the check would be off.
        if self.min_words > self.max_words:
            raise ValueError(
                f"min_words ({self.min_words}) must not exceed max_words ({self.max_words})"
            )
        return self


class GenerationConfig(Strict):
    """How samples are generated."""

    modes: list[GenerationMode] = Field(
        default_factory=lambda: [GenerationMode.TESSY],
        min_length=1,
        description="Modes to run over the same prompts.",
    )
    samples_per_prompt: int = Field(1, ge=1, le=64)
    concurrency: int = Field(
        32,
        ge=1,
        description="Samples in flight when both models are on servers; local models run "
        "one sample at a time.",
        json_schema_extra=RUNTIME,
    )
    max_attempts: int = Field(
        2, ge=1, le=10, description="Attempts per sample, counted across re-runs of a build."
    )
    server_retries: int = Field(
        3,
        ge=0,
        le=50,
        description="Retries of the generation task when a model server stops answering "
        "mid-build; then the unfinished samples are stored as failed and the build goes on.",
        json_schema_extra=RUNTIME,
    )
    server_retry_delay_s: float = Field(
        10.0,
        ge=0,
        description="Wait before the first such retry; it doubles for each next.",
        json_schema_extra=RUNTIME,
    )
    tessy_answer_by: Literal["student", "teacher"] = Field(
        "student",
        description="Who writes the final answer in tessy mode (teacher: the paper's ablation).",
    )
    max_total_tokens: int = Field(1024, ge=16, description="Cap on generated tokens per sample.")
    answer_max_tokens: int = Field(384, ge=1, description="Cap on the final answer's tokens.")
    seed: int = 0
    end_of_thinking: list[str] = Field(
        default_factory=lambda: [
            "</think>",
            "<|end|>",
            "<|channel|>final<|message|>",
            "assistantfinal",
        ],
        min_length=1,
        description="Markers that end the thinking (GPT-OSS's final channel too); all "
        "become `</think>` in the output.",
    )
    repetition: RepetitionConfig = Field(default_factory=RepetitionConfig)

    @field_validator("end_of_thinking")
    @classmethod
    def _markers_not_empty(cls, markers: list[str]) -> list[str]:
        # The empty string is in every text: it would end every thinking at once.
        if any(not marker for marker in markers):
            raise ValueError("a marker must not be the empty string")
        return markers

    @model_validator(mode="after")
    def _modes_unique(self) -> GenerationConfig:
        if len(set(self.modes)) != len(self.modes):
            raise ValueError("modes must not repeat")
        return self


class VerificationConfig(Strict):
    """How generated programs are run against their tests: sandbox, language and limits."""

    sandbox: Literal["auto", "bubblewrap", "unshare", "unsafe"] = Field(
        "auto",
        description="Isolation layer; auto takes bubblewrap, else unshare, else refuses. "
        "unsafe runs generated code without isolation.",
    )
    language: Literal["python", "cpp"] = Field(
        "python", description="Language of the programs judged (the answer's last such block)."
    )
    time_limit_s: float = Field(2.0, gt=0, le=600, description="Wall time per test case.")
    cpu_time_s: float | None = Field(
        None, gt=0, description="CPU time per test case; default the wall limit plus 1 s."
    )
    memory_mb: int = Field(512, ge=16, description="Address-space limit per program.")
    max_processes: int = Field(64, ge=1, description="Processes and threads per program.")
    max_open_files: int = Field(64, ge=8, description="Open files per program.")
    file_size_mb: int = Field(16, ge=1, description="Largest file a program may write.")
    scratch_mb: int = Field(
        64, ge=1, description="Size of a program's private scratch space, beside its own files."
    )
    output_limit_bytes: int = Field(1_000_000, ge=1024, description="Stdout cap per run.")
    compile_time_limit_s: float = Field(30.0, gt=0, description="Wall time of a C++ compile.")
    compile_memory_mb: int = Field(2048, ge=64, description="Address space of a C++ compile.")
    stop_at_first_failure: bool = Field(True, description="Stop a sample at its first failure.")
    comparison: OutputComparison = Field(default_factory=OutputComparison)
    python: str = Field("python3", description="Python that runs programs (on /usr/bin:/bin).")
    cxx: str = Field("g++", description="C++ compiler (on /usr/bin:/bin).")
    cxx_flags: list[str] = Field(default_factory=lambda: ["-std=c++17", "-O2"])
    check_tests: bool = Field(
        True,
        description="Before generating, run each prompt's reference solution (must pass) and "
        "an empty program (must fail) against its tests; a prompt failing either is excluded.",
    )
    workers: int = Field(
        0,
        ge=0,
        description="Parallel programs; 0 means one per CPU core.",
        json_schema_extra=RUNTIME,
    )


class MetricsConfig(Strict):
    """Style metrics measured per generated row (`tessy_factory/curate/metrics.py`)."""

    enabled: bool = Field(True, description="Measure the style metrics of every generated row.")
    student_nll: bool = Field(
        True,
        description="Measure the student's NLL per token of each row (local backend only; "
        "forward passes of the student over every row).",
    )
    batch_size: int = Field(
        8, ge=1, description="Rows per forward pass of the student.", json_schema_extra=RUNTIME
    )
    tfidf_ngram_range: tuple[int, int] = Field(
        (1, 2), description="Word n-gram lengths [min, max] of the TF-IDF vectoriser."
    )
    phrases: list[str] | None = Field(
        None, description="Style phrases counted per 1k tokens; default `report.style_phrases`."
    )

    @field_validator("tfidf_ngram_range")
    @classmethod
    def _ordered_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= value[0] <= value[1]:
            raise ValueError(f"{list(value)}: want [min, max] with 1 <= min <= max")
        return value


class GatesConfig(Strict):
    """Gates on the published rows' style metrics and on the run's drop ledger; each is off
    unless set."""

    # The keys read from the run's drop ledger (`curate/gates.py` LEDGER_GATES), not from
    # the style metrics: they need no curation.metrics, and `mode` does not apply to them.
    LEDGER_KEYS: ClassVar[tuple[str, ...]] = ("max_near_duplicate_rate", "max_contaminated_rows")

    mode: GenerationMode | None = Field(
        GenerationMode.TESSY,
        description="The mode whose published rows the metric gates check; null: all rows.",
    )
    max_median_student_nll: float | None = Field(
        None, ge=0, description="Highest median student NLL per token allowed."
    )
    min_median_tfidf_to_student: float | None = Field(
        None, ge=0, le=1, description="Lowest median TF-IDF cosine to the student allowed."
    )
    min_median_phrase_per_1k_tokens: float | None = Field(
        None, ge=0, description="Lowest median style-phrase rate per 1k thinking tokens."
    )
    max_median_thinking_tokens: float | None = Field(
        None, ge=0, description="Highest median thinking length in student tokens."
    )
    max_near_duplicate_rate: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Highest near-duplicate rate of the run: rows the near-duplicate pass "
        "dropped over the rows it checked (those kept after the exact-duplicate and "
        "contamination passes); 0 when it checked none.",
    )
    max_contaminated_rows: int | None = Field(
        None,
        ge=0,
        description="Most rows of the run found overlapping an evaluation set, dropped or "
        "flagged (0: any contamination fails the build).",
    )


class CurationConfig(Strict):
    """Dedup and the quality gate."""

    require_accepted: bool = Field(True, description="Publish only samples that passed all tests.")
    max_total_tokens: int = Field(4096, ge=1, description="Quality gate: upper bound on n_tokens.")
    min_rows_to_publish: int = Field(1, ge=0, description="Gate: fewer kept rows fail the build.")
    include_unchecked_prompts: bool = Field(
        False,
        description="Generate for and publish prompts whose tests the judge failed to check "
        "(a sandbox error during the check); by default they stay out of the dataset until a "
        "re-run checks them.",
    )
    near_dup: NearDupConfig = Field(
        default_factory=NearDupConfig,
        description="Near-duplicate dedup (MinHash LSH) of the kept rows, against each other "
        "and every row already published to the dataset.",
    )
    decontamination: DecontaminationConfig = Field(
        default_factory=DecontaminationConfig,
        description="Drop or flag rows whose prompt or solution overlaps an evaluation set.",
    )
    metrics: MetricsConfig = Field(
        default_factory=MetricsConfig, description="The style metrics measured on every row."
    )
    gates: GatesConfig = Field(
        default_factory=GatesConfig,
        description="Gates on the style metrics of the rows and on the drop ledger.",
    )

    @model_validator(mode="after")
    def _gates_have_metrics(self) -> CurationConfig:
        ledger = ("mode", *GatesConfig.LEDGER_KEYS)
        set_gates = [name for name, value in self.gates if name not in ledger and value is not None]
        if set_gates and not self.metrics.enabled:
            raise ValueError(f"curation.gates {set_gates} need curation.metrics.enabled")
        if self.gates.max_median_student_nll is not None and not self.metrics.student_nll:
            raise ValueError(
                "curation.gates.max_median_student_nll needs curation.metrics.student_nll"
            )
        return self

    @model_validator(mode="after")
    def _ledger_gates_have_their_checks(self) -> CurationConfig:
        # Without the check, its gate would pass on a count of nothing.
        if self.gates.max_near_duplicate_rate is not None and not self.near_dup.enabled():
            raise ValueError(
                "curation.gates.max_near_duplicate_rate needs a curation.near_dup text enabled"
            )
        if self.gates.max_contaminated_rows is not None and not self.decontamination.enabled:
            raise ValueError(
                "curation.gates.max_contaminated_rows needs curation.decontamination.enabled"
            )
        return self


class PublishConfig(Strict):
    """Where the dataset version goes."""

    target: Literal["local", "hub"] = "local"
    repo_id: str = Field("tessy/demo", pattern=r"^[\w.-]+/[\w.-]+$")
    private: bool = Field(
        True, description="Create a new Hub repository private.", json_schema_extra=RUNTIME
    )
    token_env: str = Field(
        "HF_TOKEN",
        description="Environment variable holding the Hub token.",
        json_schema_extra=RUNTIME,
    )
    retries: int = Field(
        3,
        ge=0,
        le=50,
        description="Retries of the publish task after a transient Hub fault (a 429 or 5xx "
        "answer, a dropped connection); a refusal (4xx) or bad input is final.",
        json_schema_extra=RUNTIME,
    )
    retry_delay_s: float = Field(
        10.0,
        ge=0,
        description="Wait before the first such retry; it doubles for each next, with jitter.",
        json_schema_extra=RUNTIME,
    )


class ExecutionConfig(Strict):
    """Where generation and verification run: in the flow's process (local), or in shards
    on a Dask cluster (dask), each shard's rows stored by the flow's process alone."""

    task_runner: Literal["local", "dask"] = Field(
        "local",
        description="local: in the flow's process; dask: shards as Prefect tasks on a Dask "
        "cluster (prefect-dask's DaskTaskRunner).",
    )
    dask_address: str = Field(
        "",
        description="dask: the scheduler's address, e.g. tcp://10.0.0.5:8786; empty: start a "
        "LocalCluster of `dask_workers` processes for the build.",
    )
    dask_workers: int = Field(2, ge=1, le=1024, description="LocalCluster: worker processes.")
    threads_per_worker: int = Field(1, ge=1, le=256, description="LocalCluster: threads each.")
    shard_size: int = Field(
        8, ge=1, le=100_000, description="dask: samples per generation shard (one task)."
    )
    verify_shard_size: int = Field(
        32, ge=1, le=100_000, description="dask: samples per verification shard (one task)."
    )
    generation_resources: dict[str, float] = Field(
        default_factory=dict,
        description="dask: worker resources a generation shard needs, e.g. {GPU: 1}: it runs "
        "only on workers started with them (`dask worker --resources GPU=1`).",
    )
    verification_resources: dict[str, float] = Field(
        default_factory=dict,
        description="dask: worker resources a verification shard needs, e.g. {JUDGE: 1}.",
    )


class ReportConfig(Strict):
    """What the build report measures."""

    style_phrases: list[str] = Field(
        default_factory=lambda: list(STUDENT_PHRASES),
        description="The student's style phrases, counted per sample in the report.",
    )


# What a build's model sections hold when they leave a key out (the README's defaults).
ROLE_DEFAULTS: dict[str, dict[str, Any]] = {
    "teacher": {"model": "miniature:teacher"},
    "student": {"model": "miniature:student", "chunk_tokens": STUDENT_CHUNK_TOKENS},
    "teacher_predictor": {"model": "miniature:teacher"},
    "student_predictor": {"model": "miniature:student"},
}


class BuildConfig(Strict):
    """Everything one dataset build needs."""

    name: str = Field("demo", pattern=r"^[\w.-]+$", description="Name of the build.")
    home: str | None = Field(
        None,
        description="Factory home; default $TESSY_HOME or ./.tessy.",
        json_schema_extra=RUNTIME,
    )
    sources: list[PromptSource] = Field(default_factory=lambda: [DemoSource()], min_length=1)
    teacher: ModelConfig = Field(default_factory=lambda: ModelConfig(**ROLE_DEFAULTS["teacher"]))
    student: ModelConfig = Field(default_factory=lambda: ModelConfig(**ROLE_DEFAULTS["student"]))
    teacher_predictor: PredictorConfig = Field(
        default_factory=lambda: PredictorConfig(**ROLE_DEFAULTS["teacher_predictor"])
    )
    student_predictor: PredictorConfig = Field(
        default_factory=lambda: PredictorConfig(**ROLE_DEFAULTS["student_predictor"])
    )
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    verification: VerificationConfig = Field(default_factory=VerificationConfig)
    curation: CurationConfig = Field(default_factory=CurationConfig)
    publish: PublishConfig = Field(default_factory=PublishConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    # Where the work runs cannot change the data: a build resumes on either runner.
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig, json_schema_extra=RUNTIME)

    @field_validator(*ROLE_DEFAULTS, mode="before")
    @classmethod
    def _role_defaults(cls, section: Any, info: ValidationInfo) -> Any:
        return with_defaults(section, ROLE_DEFAULTS[info.field_name])

    @model_validator(mode="after")
    def _not_built_from_an_eval_set(self) -> BuildConfig:
        # Every row of a HumanEval build overlaps HumanEval: decontamination would drop them
        # all at the end of the build. Saying so now, before any generation, is the kinder.
        checks = self.curation.decontamination
        if checks.enabled and checks.humaneval and any(s.kind == "humaneval" for s in self.sources):
            raise ValueError(
                "a humaneval source with curation.decontamination.humaneval on would drop "
                "every row as contaminated; set curation.decontamination.humaneval: false "
                "to build from HumanEval"
            )
        return self

    def fingerprint(self) -> str:
        """A stable hash of everything that shapes the data (runtime keys are left out)."""
        return fingerprint(self)


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> BuildConfig:
    """Read a YAML build config with `overrides` merged in (README: Configuration); errors
    name the file, the field and the problem."""
    return load_yaml_model(path, BuildConfig, overrides)


def load_yaml_model(
    path: str | Path, model: type[ModelT], overrides: Mapping[str, Any] | None = None
) -> ModelT:
    """Read a YAML file into `model`, `overrides` deep-merged into it first (dotted or nested
    keys, `tessy_factory/overrides.py`); errors name the file, the field and the problem."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such config file") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(raw).__name__}")
    where = f"{path} with overrides" if overrides else str(path)
    try:
        return model.model_validate(merged(raw, nested(overrides or {})))
    except OverrideError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    except ValidationError as exc:
        raise ConfigError(f"{where}: invalid config\n  {describe_errors(exc)}") from exc


def describe_errors(exc: ValidationError) -> str:
    """Render pydantic errors as `field.path: problem` lines."""
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"{field}: {error['msg']}")
    return "\n  ".join(lines)
