"""Tests of the build configuration: YAML loading, error messages that point at the field, and
the fingerprint that keys a build's data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from tessy_factory.config import (
    BuildConfig,
    ConfigError,
    DemoSource,
    GenerationMode,
    ModelConfig,
    load_config,
)
from tessy_factory.fingerprint import data_view, differing_keys

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "build.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    return message


def test_defaults_validate_and_run_the_miniature_demo() -> None:
    config = BuildConfig()
    assert config.generation.modes == [GenerationMode.TESSY]
    assert config.sources == [DemoSource()]
    assert config.teacher.model == "miniature:teacher"
    assert config.student.model == "miniature:student"
    assert config.teacher.chunk_tokens == 10 and config.student.chunk_tokens == 5
    assert BuildConfig.model_validate(config.model_dump(mode="json")) == config


def test_a_partial_model_section_keeps_the_documented_model(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "teacher: {chunk_tokens: 8}\nstudent: {temperature: 0.2}\n"
            "teacher_predictor: {threshold: 0.6}\nstudent_predictor: {batch_size: 4}\n",
        )
    )
    assert (config.teacher.model, config.teacher.chunk_tokens) == ("miniature:teacher", 8)
    assert (config.student.model, config.student.chunk_tokens) == ("miniature:student", 5)
    assert config.student.temperature == 0.2
    assert config.teacher_predictor.model == "miniature:teacher"
    assert config.student_predictor.model == "miniature:student"


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == BuildConfig()
    assert load_config(write(tmp_path, "# only a comment\n")) == BuildConfig()


def test_the_demo_config_loads() -> None:
    config = load_config(DEMO_CONFIG)
    assert config.name == "demo"
    assert config.generation.modes == [
        GenerationMode.TESSY,
        GenerationMode.TEACHER_ONLY,
        GenerationMode.STUDENT_ONLY,
    ]
    assert config.sources == [DemoSource(count=24, seed=2026)]
    assert config.publish.target == "local"
    assert config.home is None


def test_an_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    message = load_error(tmp_path, "nmae: demo\n")
    assert "nmae: Extra inputs are not permitted" in message


def test_an_unknown_nested_key_is_named_with_its_path(tmp_path: Path) -> None:
    message = load_error(tmp_path, "teacher:\n  model: miniature:teacher\n  chunk_tokenz: 3\n")
    assert "teacher.chunk_tokenz: Extra inputs are not permitted" in message


def test_a_wrong_type_names_the_field_and_the_expected_type(tmp_path: Path) -> None:
    message = load_error(tmp_path, "generation:\n  samples_per_prompt: many\n")
    assert "generation.samples_per_prompt:" in message
    assert "valid integer" in message


def test_an_out_of_range_value_names_the_bound(tmp_path: Path) -> None:
    message = load_error(tmp_path, "student:\n  model: m\n  chunk_tokens: 0\n")
    assert "student.chunk_tokens: Input should be greater than or equal to 1" in message


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    message = load_error(tmp_path, "nmae: demo\ngeneration:\n  seed: zero\n")
    assert "nmae:" in message
    assert "generation.seed:" in message


def test_a_bad_mode_names_its_position_and_the_allowed_modes(tmp_path: Path) -> None:
    message = load_error(tmp_path, "generation:\n  modes: [tessy, teacher]\n")
    assert "generation.modes.1:" in message
    for mode in GenerationMode:
        assert f"'{mode.value}'" in message


def test_repeated_modes_are_refused(tmp_path: Path) -> None:
    message = load_error(tmp_path, "generation:\n  modes: [tessy, student-only, tessy]\n")
    assert "generation:" in message
    assert "modes must not repeat" in message


def test_an_empty_mode_list_is_refused(tmp_path: Path) -> None:
    message = load_error(tmp_path, "generation:\n  modes: []\n")
    assert "generation.modes:" in message


def test_a_student_section_without_chunk_tokens_keeps_the_students_default(
    tmp_path: Path,
) -> None:
    # As the README says: the student writes 5 tokens a turn, the teacher 10, whether the
    # sections are left out or written without chunk_tokens.
    config = load_config(write(tmp_path, "teacher: {model: t}\nstudent: {model: s}\n"))
    assert (config.teacher.chunk_tokens, config.student.chunk_tokens) == (10, 5)
    assert (BuildConfig().teacher.chunk_tokens, BuildConfig().student.chunk_tokens) == (10, 5)
    explicit = load_config(write(tmp_path, "student: {model: s, chunk_tokens: 7}\n"))
    assert explicit.student.chunk_tokens == 7


def test_a_repetition_rule_with_min_words_over_max_words_is_refused(tmp_path: Path) -> None:
    # Left through, it would try no fragment size at all: the loop check silently off.
    message = load_error(tmp_path, "generation:\n  repetition: {min_words: 5, max_words: 3}\n")
    assert "generation.repetition:" in message
    assert "min_words (5) must not exceed max_words (3)" in message


def test_an_empty_end_of_thinking_marker_is_refused(tmp_path: Path) -> None:
    # The empty string is found in every text, so it would end every thinking at once.
    message = load_error(tmp_path, "generation:\n  end_of_thinking: ['</think>', '']\n")
    assert "generation.end_of_thinking:" in message
    assert "must not be the empty string" in message


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("mode: exact", "use space_change_sensitive"),
        ("ignore_case: true", "use case_sensitive"),
        ("float_abs_tol: 0.001", "use float_absolute_tolerance"),
        ("float_rel_tol: 0.001", "use float_relative_tolerance"),
    ],
)
def test_an_old_comparison_key_names_its_replacement(tmp_path: Path, old: str, new: str) -> None:
    key = old.split(":")[0]
    message = load_error(tmp_path, f"verification:\n  comparison:\n    {old}\n")
    assert f"verification.comparison: Value error, '{key}' is no longer" in message
    assert new in message
    source = f"sources:\n  - kind: jsonl\n    path: p.jsonl\n    comparison:\n      {old}\n"
    assert f"'{key}' is no longer a comparison key; {new}" in load_error(tmp_path, source)


def test_comparison_flags_default_as_in_problemtools() -> None:
    comparison = BuildConfig().verification.comparison
    assert not comparison.case_sensitive and not comparison.space_change_sensitive
    assert comparison.float_absolute_tolerance is None
    assert comparison.float_relative_tolerance is None


def test_an_unknown_source_kind_names_the_source(tmp_path: Path) -> None:
    message = load_error(tmp_path, "sources:\n  - kind: csv\n    path: x.csv\n")
    assert "sources.0:" in message
    assert "'demo'" in message and "'jsonl'" in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match="no such config file") as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_a_yaml_syntax_error_is_named(tmp_path: Path) -> None:
    message = load_error(tmp_path, "generation:\n  modes: [tessy\n")
    assert "not valid YAML" in message


@pytest.mark.parametrize(
    ("text", "kind"), [("- tessy\n- student-only\n", "list"), ("just a string\n", "str")]
)
def test_the_top_level_must_be_a_mapping(tmp_path: Path, text: str, kind: str) -> None:
    message = load_error(tmp_path, text)
    assert f"the top level must be a mapping, got {kind}" in message


def test_the_fingerprint_is_stable_and_ignores_the_home() -> None:
    config = load_config(DEMO_CONFIG)
    assert config.fingerprint() == load_config(DEMO_CONFIG).fingerprint()
    moved = config.model_copy(update={"home": "/somewhere/else"})
    assert moved.fingerprint() == config.fingerprint()


def test_the_fingerprint_changes_with_what_shapes_the_data() -> None:
    config = load_config(DEMO_CONFIG)
    reseeded = config.model_copy(
        update={"generation": config.generation.model_copy(update={"seed": 1})}
    )
    hotter = config.model_copy(
        update={"teacher": config.teacher.model_copy(update={"temperature": 1.0})}
    )
    fingerprints = {config.fingerprint(), reseeded.fingerprint(), hotter.fingerprint()}
    assert len(fingerprints) == 3


def test_runtime_settings_leave_the_fingerprint_alone() -> None:
    config = load_config(DEMO_CONFIG)
    changed = config.model_copy(
        update={
            "home": "/elsewhere",
            "generation": config.generation.model_copy(
                update={"concurrency": 3, "server_retries": 9, "server_retry_delay_s": 1.0}
            ),
            "verification": config.verification.model_copy(update={"workers": 7}),
            "teacher": config.teacher.model_copy(
                update={
                    "request_timeout_s": 5.0,
                    "max_retries": 0,
                    "retry_backoff_s": 9.0,
                    "base_url": ["http://h:1/v1", "http://h:2/v1"],
                }
            ),
            "teacher_predictor": config.teacher_predictor.model_copy(update={"batch_size": 2}),
            "publish": config.publish.model_copy(
                update={"private": False, "token_env": "T", "retries": 0, "retry_delay_s": 1.0}
            ),
        }
    )
    assert changed.fingerprint() == config.fingerprint()


def test_differing_keys_name_each_change_with_both_values() -> None:
    config = load_config(DEMO_CONFIG)
    changed = config.model_copy(
        update={
            "generation": config.generation.model_copy(update={"seed": 1, "concurrency": 2}),
            "sources": [DemoSource(count=5)],
        }
    )
    assert differing_keys(data_view(config), data_view(changed)) == [
        "generation.seed (0 -> 1)",
        f"sources[0].count ({config.sources[0].count} -> 5)",
    ]


@pytest.mark.parametrize(
    "base_url, problem",
    [
        ([], "an empty list"),
        (["http://gpu:8000/v1", "gpu:8001/v1"], "'gpu:8001/v1' is not an http(s) URL"),
        ("ftp://gpu/v1", "'ftp://gpu/v1' is not an http(s) URL"),
    ],
)
def test_a_bad_base_url_is_named_with_the_problem(base_url, problem) -> None:
    with pytest.raises(ValidationError, match=re.escape(f"base_url: {problem}")):
        ModelConfig(model="m", backend="openai", base_url=base_url)


def test_one_url_and_a_list_of_urls_both_name_the_servers() -> None:
    one = ModelConfig(model="m", backend="openai", base_url="http://gpu:8000/v1")
    two = ModelConfig(model="m", backend="openai", base_url=["http://a/v1", "http://b/v1"])
    assert one.base_urls == ["http://gpu:8000/v1"]
    assert two.base_urls == ["http://a/v1", "http://b/v1"]
