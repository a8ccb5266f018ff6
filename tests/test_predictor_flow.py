"""End to end: the predictor training flow under Prefect's test harness, offline, on the
miniature models; the registered predictors in a build; resuming; bad input counted."""

from __future__ import annotations

import dis
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest
from config_file import config_file
from prefect_artifacts import artifacts
from transformers import TrainerState, TrainingArguments
from typer.testing import CliRunner

from flows.train_predictors import train_boundary_predictors
from tasks.predictor_training import (
    annotate_windows,
    collect_traces,
    draw_windows,
    train_role_predictor,
)
from tessy_factory.cli import app
from tessy_factory.config import STUDENT_CHUNK_TOKENS, BuildConfig, PredictorConfig
from tessy_factory.db import connect
from tessy_factory.engine.predictor import BoundaryPredictor
from tessy_factory.engine.writers import load_predictor
from tessy_factory.figures import rounded
from tessy_factory.home import FactoryHome
from tessy_factory.miniature.build import miniature_dir
from tessy_factory.predictors.config import PredictorTrainingConfig
from tessy_factory.predictors.metrics import PredictorMetrics
from tessy_factory.predictors.registry import UnknownPredictor, registered
from tessy_factory.predictors.shortage import NotEnoughData
from tessy_factory.predictors.train import _Progress

# A line of `dis` output: [line number] offset OPNAME [argument].
DISASSEMBLY = re.compile(r"^\s*(?:\d+\s+)?\d+ ([A-Z][A-Z_]+)\b")

RUN_ID = "predictors-1"


def make_home(root: Path, models_root: Path) -> Path:
    """A fresh home that shares only the built miniature models, so the predictors it
    trains stay in it."""
    miniature = miniature_dir(models_root)
    (root / "models").mkdir(parents=True)
    (root / "models" / miniature.name).symlink_to(miniature, target_is_directory=True)
    return root


def training_config(home: Path, **changes: object) -> PredictorTrainingConfig:
    raw = {
        "name": "tiny",
        "home": str(home),
        "sources": [{"kind": "demo", "count": 6, "seed": 7}],
        "teacher": {"traces": {"model": {"model": "miniature:teacher", "temperature": 0.7}}},
        "student": {
            "traces": {"model": {"model": "miniature:student", "temperature": 0.7}},
            "chunk_tokens": 5,
        },
        "sampling": {"max_total_tokens": 256},
        "windows": {"words": 20, "count": 160, "seed": 0},
        "annotator": {"kind": "lexicon"},
        "training": {
            "base_model": "miniature:teacher",
            "epochs": 3,
            "learning_rate": 0.003,
            "batch_size": 16,
            "max_length": 64,
            "validation_share": 0.1,
        },
        **changes,
    }
    return PredictorTrainingConfig.model_validate(raw)


class Recorder(logging.Handler):
    """Keeps every message logged to it."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def task_logs() -> Iterator[list[str]]:
    """What the tasks of this module's flow runs log, as the Prefect UI shows it."""
    recorder = Recorder()
    logger = logging.getLogger("prefect.task_runs")
    logger.addHandler(recorder)
    yield recorder.messages
    logger.removeHandler(recorder)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, models_root, prefect_harness, task_logs):
    home = make_home(tmp_path_factory.mktemp("predictors") / "home", models_root)
    config = training_config(home)
    started = time.perf_counter()
    metrics = train_boundary_predictors(config_file(config), run_id=RUN_ID)
    return home, config, metrics, time.perf_counter() - started


def annotated_by_the_teacher(home: Path, traces: Path, windows: int):
    """Teacher traces from `traces`, `windows` windows of 8 words, annotated by the miniature
    teacher, which cannot answer JSON, as a weak LLM may not."""
    return training_config(
        home,
        teacher={"traces": {"file": str(traces)}},
        windows={"words": 8, "count": windows, "seed": 0},
        annotator={
            "kind": "model",
            "model": {"model": "miniature:teacher", "temperature": 0.0},
            "max_new_tokens": 24,
        },
    )


def test_the_flow_trains_evaluates_and_registers_both_predictors(trained) -> None:
    home, _, metrics, seconds = trained
    print(f"predictor training flow: {seconds:.1f} s; metrics {json.dumps(metrics)}")
    for role in ("teacher", "student"):
        assert set(metrics[role]) == {field.name for field in fields(PredictorMetrics)}
        # The lexicon's labels are learnable: far better than guessing.
        assert metrics[role]["token_accuracy"] > 0.85, metrics[role]
        assert metrics[role]["style_f1"] > 0.5, metrics[role]
        directory = home / "models" / "predictors" / f"tiny-{role}"
        card = (directory / "README.md").read_text()
        assert "pipeline_tag: token-classification" in card
        assert f"model: registered:tiny-{role}" in card
        assert f"{metrics[role]['token_accuracy']:.4f}" in card
    with connect(home / "factory.duckdb") as con:
        rows = {row.name: row for row in registered(con)}
        status = con.execute("SELECT status FROM runs WHERE run_id = ?", [RUN_ID]).fetchone()
    assert set(rows) == {"tiny-teacher", "tiny-student"}
    assert rows["tiny-student"].metrics == metrics["student"]
    assert rows["tiny-teacher"].annotator == "lexicon"
    assert status == ("completed",)


def test_the_flow_logs_no_disassembled_bytecode(trained, task_logs: list[str]) -> None:
    # dill disassembles a function (dis.dis) into a captured stdout to find its globals;
    # a flow with log_prints logged each line of that instead.
    bytecode = [
        line
        for message in task_logs
        for line in message.splitlines()
        if (op := DISASSEMBLY.match(line)) and op.group(1) in dis.opmap
    ]
    assert task_logs and not bytecode, bytecode[:5]


def test_a_build_config_uses_a_registered_predictor_by_name(trained) -> None:
    home, *_ = trained
    factory = FactoryHome.resolve(home)
    predictor = load_predictor(
        PredictorConfig(model="registered:tiny-student"), factory.models, factory.database
    )
    assert isinstance(predictor, BoundaryPredictor)
    labels = predictor.label_chunk("<think>\nOkay, let's see.", " Hmm, Read n and the n integers.")
    assert labels and all(0 <= offset < 33 for offset, _ in labels)
    with pytest.raises(UnknownPredictor, match=r"'nope'.*registered: tiny-student, tiny-teacher"):
        load_predictor(PredictorConfig(model="registered:nope"), factory.models, factory.database)


def test_a_rerun_resumes_without_duplicating_or_retraining(trained) -> None:
    home, config, metrics, _ = trained
    database = home / "factory.duckdb"
    with connect(database) as con:
        before = _row_counts(con)
    weights = home / "models" / "predictors" / "tiny-teacher" / "model.safetensors"
    written = weights.stat().st_mtime_ns
    watcher, log = logging.getLogger("prefect.task_runs"), Messages()
    watcher.addHandler(log)
    try:
        again = train_boundary_predictors(config_file(config), run_id=RUN_ID)
    finally:
        watcher.removeHandler(log)
    # The metrics are logged and shown as an artifact rounded (stored whole).
    [registered_line] = [m for m in log.messages if "tiny-teacher: registered" in m]
    assert f"token_accuracy {metrics['teacher']['token_accuracy']:.4g}," in registered_line
    assert not UNROUNDED.search(registered_line), registered_line
    table = json.loads(artifacts("predictors-tiny")[0].data)
    assert table[0]["span_f1"] == rounded(metrics["teacher"]["span_f1"])
    with connect(database) as con:
        assert _row_counts(con) == before
    assert again == metrics
    assert weights.stat().st_mtime_ns == written, "a finished predictor is not trained again"


# A figure with more than 4 significant digits.
UNROUNDED = re.compile(r"\d\.\d{5,}|\d{2}\.\d{4,}")


class Messages(logging.Handler):
    """Collects the messages logged while it is attached."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_training_progress_is_logged_rounded_to_4_significant_digits(tmp_path: Path) -> None:
    lines: list[str] = []
    arguments = TrainingArguments(output_dir=str(tmp_path), num_train_epochs=3, report_to=[])
    logs = {"loss": 0.010761234, "learning_rate": 1.1111e-05, "total_flos": 9399737280.0}
    _Progress(lines.append).on_log(arguments, TrainerState(epoch=3.0), None, logs=logs)
    assert lines == ["epoch 3.00/3: loss 0.01076, learning_rate 1.111e-05, total_flos 9.4e+09"]


def _row_counts(con) -> tuple:
    return con.execute(
        "SELECT (SELECT count(*) FROM predictor_traces), (SELECT count(*) FROM predictor_windows),"
        " (SELECT count(*) FROM predictor_windows WHERE status IS NOT NULL)"
    ).fetchone()


def test_bad_trace_lines_and_annotator_answers_are_counted_with_their_reasons(
    tmp_path: Path, models_root: Path, prefect_harness
) -> None:
    home = make_home(tmp_path / "home", models_root)
    traces = tmp_path / "traces.jsonl"
    good = "Okay, let's see. Hmm, Read n and the n integers. Wait, Add them all up. I think done."
    lines = [
        json.dumps({"text": f"<think>\n{good}\n</think>\n\nanswer"}),
        "{not json",
        json.dumps({"thinking": "no text field"}),
        json.dumps({"text": "<think>\n \n</think>\n\nonly an answer"}),
        json.dumps({"text": good}),
    ]
    traces.write_text("\n".join(lines) + "\n")
    # The miniature teacher as the annotator: it cannot answer JSON, as a weak LLM may not.
    config = annotated_by_the_teacher(home, traces, windows=6)
    factory = FactoryHome.resolve(home)
    run_id = "bad-input"
    counts = collect_traces(run_id, "teacher", config, factory, tmp_path)
    assert counts == {"ok": 2, "failed": 2, "empty": 1}
    assert draw_windows(run_id, "teacher", config, factory) == 6
    assert annotate_windows(run_id, "teacher", config, factory) == {"rejected": 6}
    with connect(factory.database) as con:
        reasons = con.execute(
            "SELECT reason FROM predictor_traces WHERE status <> 'ok' ORDER BY trace_id"
        ).fetchall()
        rejected = con.execute(
            "SELECT reason, answer FROM predictor_windows WHERE status = 'rejected'"
        ).fetchall()
    assert [reason for (reason,) in reasons] == [
        "line 2 is not JSON: Expecting property name enclosed in double quotes",
        "line 3 has no string `text` field",
        "the thinking is empty",
    ]
    assert all(reason.startswith("not JSON") and answer for reason, answer in rejected)


def test_the_cli_lists_the_registered_predictors_and_refuses_a_bad_config(
    trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, _, metrics, _ = trained
    monkeypatch.setenv("COLUMNS", "300")
    runner = CliRunner()
    listed = runner.invoke(app, ["predictors", "list", "--home", str(home)])
    assert listed.exit_code == 0, listed.output
    assert "tiny-teacher" in listed.output and "tiny-student" in listed.output
    assert f"{metrics['student']['token_accuracy']:.3f}" in listed.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nteacher: {traces: {}}\nstudent: {traces: {file: t.jsonl}}\n")
    refused = runner.invoke(app, ["predictors", "train", str(bad), "--home", str(home)])
    assert refused.exit_code == 2
    assert "teacher.traces" in refused.output and "exactly one of model" in refused.output
    assert "training: Field required" in refused.output


def test_no_usable_trace_is_an_error_naming_the_run_its_counts_and_what_to_change(
    tmp_path: Path, models_root: Path, prefect_harness
) -> None:
    home = make_home(tmp_path / "home", models_root)
    # Too few tokens for the teacher's thinking to ever end: every trace fails.
    config = training_config(
        home, sources=[{"kind": "demo", "count": 2, "seed": 7}], sampling={"max_total_tokens": 16}
    )
    with pytest.raises(NotEnoughData) as raised:
        train_boundary_predictors(config_file(config), run_id="no-traces")
    message = str(raised.value)
    assert message.startswith("predictor run 'no-traces', teacher: no usable trace")
    assert "not usable: thinking did not end within 16 tokens 2" in message
    assert "So far: traces 2 (failed 2); windows drawn 0 (none)." in message
    assert "sampling.max_total_tokens (now 16)" in message
    assert "teacher.traces.samples_per_prompt (now 1)" in message
    with connect(home / "factory.duckdb") as con:
        status, error = con.execute(
            "SELECT status, error FROM runs WHERE run_id = 'no-traces'"
        ).fetchone()
    assert status == "failed" and error == f"NotEnoughData: {message}"


def test_too_few_annotated_windows_is_an_error_naming_the_run_its_counts_and_what_to_change(
    tmp_path: Path, models_root: Path, prefect_harness
) -> None:
    home = make_home(tmp_path / "home", models_root)
    traces = tmp_path / "traces.jsonl"
    thinking = "Okay, let's see. Hmm, Read n and the n integers. Wait, Add them all up."
    traces.write_text(json.dumps({"text": thinking}) + "\n" + "{not json\n")
    # The miniature teacher as the annotator cannot answer JSON: both windows are rejected.
    config = annotated_by_the_teacher(home, traces, windows=2)
    factory = FactoryHome.resolve(home)
    collect_traces("few-windows", "teacher", config, factory, tmp_path)
    draw_windows("few-windows", "teacher", config, factory)
    assert annotate_windows("few-windows", "teacher", config, factory) == {"rejected": 2}
    with pytest.raises(NotEnoughData) as raised:
        train_role_predictor("few-windows", "teacher", config, factory)
    message = str(raised.value)
    assert message.startswith(
        "predictor run 'few-windows', teacher: 0 annotated window(s), but training needs at "
        "least 2 (one to train on, one to hold out)."
    )
    assert "So far: traces 2 (failed 1, ok 1); windows drawn 2 (rejected 2);" in message
    assert "annotator answers rejected for: not JSON 2." in message
    assert "windows.count (now 2)" in message
    assert "annotator.kind (now model), annotator.model or annotator.max_new_tokens (now 24)" in (
        message
    )


def test_the_student_chunk_default_is_the_builds() -> None:
    config = training_config(Path("home"), student={"traces": {"file": "s.jsonl"}})
    assert config.student.chunk_tokens == BuildConfig().student.chunk_tokens == STUDENT_CHUNK_TOKENS
    assert config.teacher.chunk_tokens == BuildConfig().teacher.chunk_tokens
