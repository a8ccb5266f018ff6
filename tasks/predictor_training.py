"""Tasks of the predictor training flow: traces, windows, annotations, training, registry.

Each step stores what it produced in DuckDB as it goes and skips what is already there, so
a crashed run re-run with its run id resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tessy_factory.db import connect, sql, store
from tessy_factory.engine.local_model import LocalModel
from tessy_factory.engine.loop import Writer
from tessy_factory.engine.text_model import GenerationFailed
from tessy_factory.engine.writers import load_model
from tessy_factory.figures import figures_line
from tessy_factory.home import FactoryHome
from tessy_factory.miniature.build import resolve_model
from tessy_factory.predictors.annotate import (
    AnnotationRejected,
    LexiconAnnotator,
    ModelAnnotator,
    parse_annotation,
)
from tessy_factory.predictors.card import DataCounts, model_card
from tessy_factory.predictors.config import PredictorTrainingConfig
from tessy_factory.predictors.metrics import evaluate
from tessy_factory.predictors.registry import RegisteredPredictor, register
from tessy_factory.predictors.shortage import MIN_ANNOTATED, no_usable_trace, too_few_annotated
from tessy_factory.predictors.traces import TraceRow, read_trace_file, sample_traces
from tessy_factory.predictors.train import train_predictor
from tessy_factory.predictors.windows import cut_windows

# Kept of a rejected annotator answer, for the audit: enough to see what went wrong.
ANSWER_CHARS = 2000


@task(name="collect-traces", cache_policy=NO_CACHE)
def collect_traces(
    run_id: str, role: str, config: PredictorTrainingConfig, home: FactoryHome, base_dir: Path
) -> dict[str, int]:
    """Sample the role's traces from its model on the run's prompts, or read its file."""
    source = config.role(role).traces
    with connect(home.database) as con:
        done = {
            row[0] for row in con.execute(sql("predictor_traces_done"), [run_id, role]).fetchall()
        }
        # A predictor run's prompts are never test-checked: all of them count.
        params = {"run_id": run_id, "include_unchecked": True}
        prompts = [text for _, text in con.execute(sql("prompts_of_run"), params).fetchall()]

    def upsert(row: TraceRow) -> list:
        return [run_id, role, row.trace_id, row.status, row.reason, row.text]

    def stored(row: TraceRow) -> None:
        # The database is opened for each trace only, never while the model samples.
        store(home.database, "predictor_trace_upsert", [upsert(row)])

    if source.file is not None:
        traces = read_trace_file(base_dir / source.file)
        rows = [upsert(row) for row in traces if row.trace_id not in done]
        store(home.database, "predictor_trace_upsert", rows)
    else:
        slots = [
            (index * source.samples_per_prompt + sample, prompt)
            for index, prompt in enumerate(prompts)
            for sample in range(source.samples_per_prompt)
        ]
        writer = Writer(role, load_model(source.model, home.models))
        # Local models compute in this process: samples in flight would only take turns.
        concurrency = 1 if isinstance(writer.model, LocalModel) else config.sampling.concurrency
        todo = [slot for slot in slots if slot[0] not in done]
        asyncio.run(sample_traces(writer, todo, config.sampling, concurrency, stored))
    with connect(home.database) as con:
        counts = dict(con.execute(sql("predictor_trace_counts"), [run_id, role]).fetchall())
    get_run_logger().info("%s traces: %s", role, counts)
    return counts


@task(name="draw-windows", cache_policy=NO_CACHE)
def draw_windows(run_id: str, role: str, config: PredictorTrainingConfig, home: FactoryHome) -> int:
    """Draw the role's word windows once; a re-run keeps those already drawn."""
    with connect(home.database) as con:
        drawn = _window_count(con, run_id, role)
        if drawn:
            return drawn
        traces = con.execute(sql("predictor_traces_ok"), [run_id, role]).fetchall()
        if not traces:
            failures = dict(con.execute(sql("predictor_trace_reasons"), [run_id, role]).fetchall())
            counts = _data_counts(con, run_id, role)
            raise no_usable_trace(run_id, role, config, counts, failures)
        windows = cut_windows(
            [text for _, text in traces],
            config.windows.words,
            config.windows.count,
            config.windows.seed,
        )
        rows = [
            [run_id, role, index, traces[window.trace][0], window.start, window.text]
            for index, window in enumerate(windows)
        ]
        # All or none, so a crash never leaves a partial draw to be mistaken for a whole one.
        con.begin()
        con.executemany(sql("predictor_window_insert"), rows)
        con.commit()
    get_run_logger().info("%s windows: %d drawn", role, len(rows))
    return len(rows)


def _window_count(con, run_id: str, role: str) -> int:
    counts = con.execute(sql("predictor_annotation_counts"), [run_id, role]).fetchall()
    return sum(count for _, count in counts)


@task(name="annotate-windows", cache_policy=NO_CACHE)
def annotate_windows(
    run_id: str, role: str, config: PredictorTrainingConfig, home: FactoryHome
) -> dict[str, int]:
    """Mark the style spans of every window not yet annotated; an answer that does not
    parse, or names text the window does not hold, is recorded as rejected with why."""
    settings = config.annotator
    with connect(home.database) as con:
        pending = con.execute(sql("predictor_windows_unannotated"), [run_id, role]).fetchall()

    def annotation(window_id: int, spans, reason: str | None, answer: str | None) -> list:
        status = "rejected" if reason else "ok"
        return [status, json.dumps(spans), reason, answer, run_id, role, window_id]

    def stored(window_id: int, spans, reason: str | None, answer: str | None) -> None:
        # The database is opened for each answer only, never while the annotator thinks.
        rows = [annotation(window_id, spans, reason, answer)]
        store(home.database, "predictor_window_annotate", rows)

    if settings.kind == "lexicon":
        annotator = LexiconAnnotator(settings.phrases)
        rows = [
            annotation(window_id, annotator.annotate(text), None, None)
            for window_id, text in pending
        ]
        store(home.database, "predictor_window_annotate", rows)
    else:
        model = ModelAnnotator(load_model(settings.model, home.models), settings.max_new_tokens)
        asyncio.run(_ask(model, pending, settings.concurrency, config.windows.seed, stored))
    with connect(home.database) as con:
        counts = dict(con.execute(sql("predictor_annotation_counts"), [run_id, role]).fetchall())
    get_run_logger().info("%s annotations: %s", role, counts)
    return counts


async def _ask(model: ModelAnnotator, pending, concurrency: int, seed: int, store) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(window_id: int, text: str) -> None:
        async with gate:
            try:
                answer = await model.answer(text, seed * 1_000_003 + window_id)
            except GenerationFailed as exc:
                store(window_id, None, f"the annotator failed: {exc}", None)
                return
        try:
            store(window_id, parse_annotation(answer, text), None, answer)
        except AnnotationRejected as exc:
            store(window_id, None, str(exc), answer[:ANSWER_CHARS])

    async with asyncio.TaskGroup() as group:
        for window_id, text in pending:
            group.create_task(one(window_id, text))


@task(name="train-predictor", cache_policy=NO_CACHE)
def train_role_predictor(
    run_id: str, role: str, config: PredictorTrainingConfig, home: FactoryHome
) -> dict:
    """Train, evaluate and save the role's predictor with its model card (unless this run
    already did), then register it."""
    logger = get_run_logger()
    name = f"{config.name}-{role}"
    out = home.models / "predictors" / name
    done = out / "metrics.json"
    if done.is_file() and json.loads(done.read_text())["run_id"] == run_id:
        logger.info("%s: already trained by this run", name)
        metrics = json.loads(done.read_text())["metrics"]
    else:
        metrics = _train(run_id, role, config, home, out, lambda line: logger.info(line))
        done.write_text(json.dumps({"run_id": run_id, "metrics": metrics}, indent=2))
    with connect(home.database) as con:
        register(
            con,
            RegisteredPredictor(
                name,
                role,
                str(out),
                config.training.base_model,
                config.annotator.kind,
                metrics,
                run_id,
                datetime.now(),
            ),
        )
    logger.info("%s: registered as registered:%s; %s", name, name, figures_line(metrics))
    return metrics


def _train(
    run_id: str,
    role: str,
    config: PredictorTrainingConfig,
    home: FactoryHome,
    out: Path,
    log: Callable[[str], None],
) -> dict:
    """Train on the run's annotated windows, evaluate, save to `out`; the metrics."""
    name = out.name
    with connect(home.database) as con:
        windows = [
            (text, [tuple(span) for span in json.loads(spans)])
            for text, spans in con.execute(
                sql("predictor_windows_annotated"), [run_id, role]
            ).fetchall()
        ]
        counts = _data_counts(con, run_id, role)
    if len(windows) < MIN_ANNOTATED:
        raise too_few_annotated(run_id, role, config, counts, len(windows))
    base = resolve_model(config.training.base_model, home.models, predictor=False)
    work_dir = home.scratch / run_id / role
    trained = train_predictor(
        windows, base, config.training, work_dir, lambda line: log(f"{name} {line}")
    )
    metrics = evaluate(
        trained.predicted, trained.true, role == "teacher", config.role(role).chunk_tokens
    )
    counts = DataCounts(**counts, train_examples=trained.train_examples, held_out=len(trained.true))
    out.mkdir(parents=True, exist_ok=True)
    trained.model.save_pretrained(out)
    trained.tokenizer.save_pretrained(out)
    (out / "README.md").write_text(
        model_card(name, role, run_id, config, counts, metrics), encoding="utf-8"
    )
    shutil.rmtree(work_dir, ignore_errors=True)
    return asdict(metrics)


def _data_counts(con, run_id: str, role: str) -> dict[str, dict[str, int]]:
    return {
        "traces": dict(con.execute(sql("predictor_trace_counts"), [run_id, role]).fetchall()),
        "windows": dict(con.execute(sql("predictor_annotation_counts"), [run_id, role]).fetchall()),
        "rejections": dict(
            con.execute(sql("predictor_rejection_reasons"), [run_id, role]).fetchall()
        ),
    }
