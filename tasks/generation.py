"""Tasks: load the models, then generate every sample the run still lacks, storing each
attempt as it completes.

A model server that stops answering mid-build stops the generate task; Prefect retries it
with back-off (`generation.server_retries`, `server_retry_delay_s`), each retry skipping
the samples already stored. Once the retries are spent, the unfinished samples are stored
as failed with the server's fault, the build goes on to verify, report and gate what it
has, and a re-run of the build generates them.

With `execution.task_runner: dask` the same slots are cut into shards, each a task
`generate-shard` on a Dask worker that returns its rows; the flow's process stores them
(`tessy_factory/execution.py`). Both runners write a slot's attempts with `_attempts`,
which hands each row to a sink: the database at once (local), or the shard's rows (dask).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from prefect.task_runners import TaskRunner

from tasks.retrying import backoff
from tasks.shards import store_as_completed
from tessy_factory.config import BuildConfig, GenerationMode
from tessy_factory.db import connect, sql, store
from tessy_factory.engine.local_model import LocalModel
from tessy_factory.engine.loop import Writer, generate_sample
from tessy_factory.engine.openai_model import EndpointError
from tessy_factory.engine.text_model import GenerationFailed
from tessy_factory.engine.writers import load_writers, resolve_registered
from tessy_factory.execution import needing, one_at_a_time, per_process, shards
from tessy_factory.home import FactoryHome
from tessy_factory.publish.revisions import settle_revisions


def sample_id(run_id: str, prompt_id: str, mode: str, index: int) -> str:
    """Stable id of one sample slot, so a resumed run fills exactly the missing slots."""
    return hashlib.sha256(f"{run_id}|{prompt_id}|{mode}|{index}".encode()).hexdigest()[:16]


def sample_seed(base_seed: int, prompt_id: str, mode: str, index: int, attempt: int) -> int:
    """The sampling seed of one attempt at a slot. It leaves the run id out, so building the
    same config again, in any run, writes the same samples."""
    digest = hashlib.sha256(f"{base_seed}|{prompt_id}|{mode}|{index}".encode()).hexdigest()
    return int(digest[:15], 16) + attempt


@dataclass(frozen=True)
class Slot:
    """One sample to write: which prompt, mode and index, and how many attempts it had."""

    sample_id: str
    prompt_id: str
    prompt: str
    mode: GenerationMode
    index: int
    attempts: int


# (teacher, student), each None when no mode of the build uses it.
Writers = tuple[Writer | None, Writer | None]


def run_generation(
    run_id: str, config: BuildConfig, home: FactoryHome, runner: TaskRunner | None = None
) -> None:
    """Load the models, then generate the missing samples, retrying while a server is down;
    once the retries are spent, the unfinished samples are stored as failed with the
    reason. A model that cannot load raises ModelLoadError before anything is generated.

    With a `runner` (the build's DaskTaskRunner) the samples are generated in shards on its
    workers, which load the models themselves, and stored here as each shard completes."""
    if runner is not None:
        generate_on_cluster(run_id, config, home, runner)
        return
    writers = load_models(run_id, config, home)
    if writers is None:
        return
    retries = config.generation.server_retries
    options = backoff(retries, config.generation.server_retry_delay_s)
    try:
        generate.with_options(**options)(run_id, config, home, writers)
    except EndpointError as exc:
        reason = f"{exc} (generation retried {retries} times)"
        record_unfinished(run_id, config, home, reason)


@task(name="load-models", cache_policy=NO_CACHE)
def load_models(run_id: str, config: BuildConfig, home: FactoryHome) -> Writers | None:
    """The writers, every model loaded and every server answering; None when the run has
    no sample left to write, so a resumed build that only publishes needs no model."""
    if not _has_work(run_id, config, home):
        return None
    writers = load_writers(config, home.models, home.database)
    with connect(home.database) as con:
        settle_revisions(run_id, config, home.models, con)
    return writers


def _has_work(run_id: str, config: BuildConfig, home: FactoryHome) -> bool:
    """Whether the run still has samples to write and may write them."""
    with connect(home.database) as con:
        release = con.execute(sql("release_of_run"), [run_id]).fetchone()
    if release is not None:
        # A version is published once: samples written now could never reach it.
        get_run_logger().info("generation: the run is released as %s; none to write", release[1])
        return False
    slots, _ = _pending(run_id, config, home)
    return bool(slots)


@dataclass(frozen=True)
class ShardJob:
    """What a worker needs to write a run's shards, the database left behind: the config
    (secrets by the name of their environment variable only), where the models are, and the
    `registered:` predictors resolved to their directories."""

    run_id: str
    config: BuildConfig
    models_root: str
    registered_paths: dict[str, str]

    def writers_key(self) -> str:
        """What the writers loaded for this job depend on, to load them once per worker."""
        sections = {role: getattr(self.config, role).model_dump(mode="json") for role in ROLES}
        modes = [str(mode) for mode in self.config.generation.modes]
        parts = [sections, modes, self.models_root, self.registered_paths]
        return "writers:" + json.dumps(parts, sort_keys=True)


# The config sections the writers are loaded from.
ROLES = ("teacher", "student", "teacher_predictor", "student_predictor")


def generate_on_cluster(
    run_id: str, config: BuildConfig, home: FactoryHome, runner: TaskRunner
) -> None:
    """Generate the missing samples in shards of `execution.shard_size` on the runner's
    workers, storing each shard's rows as it completes: this process is the database's one
    writer, so a crash loses at most the shards in flight, and a shard run twice (its
    worker lost) writes the same rows again, keyed by sample id."""
    if not _has_work(run_id, config, home):
        return
    with connect(home.database) as con:
        settle_revisions(run_id, config, home.models, con)
    logger = get_run_logger()
    slots, done = _pending(run_id, config, home)
    parts = shards(slots, config.execution.shard_size)
    logger.info(
        "generation: %d samples to write, %d already done, in %d shards on dask",
        len(slots),
        done,
        len(parts),
    )
    job = ShardJob(run_id, config, str(home.models), resolve_registered(config, home.database))
    retries = config.generation.server_retries
    shard_task = generate_shard.with_options(
        **backoff(retries, config.generation.server_retry_delay_s)
    )
    with needing(config.execution.generation_resources):
        futures = [runner.submit(shard_task, {"job": job, "slots": part}) for part in parts]
    stored = 0

    def keep(rows: list[list]) -> None:
        nonlocal stored
        store(home.database, "upsert_generation", rows)
        stored += 1
        logger.info("generation: shard %d/%d stored (%d samples)", stored, len(parts), len(rows))

    errors = store_as_completed(futures, keep)
    # Every finished shard is stored first; the slots of a failed shard stay pending.
    final = [exc for exc in errors if not isinstance(exc, EndpointError)]
    if final:
        raise final[0]
    if errors:
        record_unfinished(run_id, config, home, f"{errors[0]} (generation retried {retries} times)")


def _server_fault(task: Task, task_run: TaskRun, state: State) -> bool:
    """Retry the generate task only for a server fault; other errors are final."""
    return isinstance(state.result(raise_on_failure=False), EndpointError)


@task(name="generate", cache_policy=NO_CACHE, retry_condition_fn=_server_fault)
def generate(
    run_id: str, config: BuildConfig, home: FactoryHome, writers: Writers
) -> dict[str, int]:
    """Generate the run's missing samples, retrying failures up to `max_attempts` in all.

    Attempts are stored with each sample, so the bound holds across re-runs of the build.
    Samples on model servers run concurrently; a server that refuses requests or stays
    unreachable raises EndpointError, keeping every sample already stored.
    """
    logger = get_run_logger()
    slots, done = _pending(run_id, config, home)
    logger.info("generation: %d samples to write, %d already done", len(slots), done)
    if not slots:
        return {"written": 0, "failed": 0}
    teacher, student = writers
    in_flight = _concurrency(config, teacher, student)
    return asyncio.run(
        _generate_slots(run_id, slots, teacher, student, config, database_sink(home), in_flight)
    )


@task(name="generate-shard", cache_policy=NO_CACHE, retry_condition_fn=_server_fault)
def generate_shard(job: ShardJob, slots: list[Slot]) -> list[list]:
    """Generate `slots` on this worker; the generations rows to store, one per slot (its
    last attempt). The worker loads the models once, for its first shard; a server that
    stops answering raises EndpointError, and the shard is retried whole."""
    writers = per_process(
        job.writers_key(),
        lambda: load_writers(job.config, Path(job.models_root), None, job.registered_paths),
    )
    teacher, student = writers
    rows: dict[str, list] = {}

    async def keep(row: list) -> None:
        # A retried attempt replaces the one before, as the upsert does.
        rows[row[1]] = row

    # One shard at a time in a worker process: the writers are shared, and neither a local
    # model nor a served one's per-loop clients may be used by two event loops at once.
    with one_at_a_time():
        in_flight = _concurrency(job.config, teacher, student)
        asyncio.run(
            _generate_slots(job.run_id, slots, teacher, student, job.config, keep, in_flight)
        )
    return list(rows.values())


@task(name="record-unfinished", cache_policy=NO_CACHE)
def record_unfinished(run_id: str, config: BuildConfig, home: FactoryHome, reason: str) -> int:
    """Store every sample still missing as failed with `reason`, spending no attempt, so a
    re-run generates it; returns how many."""
    slots, _ = _pending(run_id, config, home)
    with connect(home.database) as con:
        for slot in slots:
            # No attempt ran, so no wall time either.
            row = [*_head(run_id, slot), slot.attempts, "failed", reason, *NO_SAMPLE, None]
            con.execute(sql("upsert_generation"), row)
    get_run_logger().warning("generation: %d samples failed: %s", len(slots), reason)
    return len(slots)


def _concurrency(config: BuildConfig, *writers: Writer | None) -> int:
    # Local models compute in this process: samples in flight would only take turns.
    local = any(isinstance(w.model, LocalModel) for w in writers if w is not None)
    return 1 if local else config.generation.concurrency


# Where each attempt's generations row goes: the database (local), or a shard's rows.
Sink = Callable[[list], Awaitable[None]]


def database_sink(home: FactoryHome) -> Sink:
    """Store each row at once, in a thread, so samples in flight go on while it waits for
    the database."""

    async def store_row(row: list) -> None:
        await asyncio.to_thread(store, home.database, "upsert_generation", [row])

    return store_row


async def _generate_slots(
    run_id: str,
    slots: list[Slot],
    teacher: Writer | None,
    student: Writer | None,
    config: BuildConfig,
    sink: Sink,
    in_flight: int,
) -> dict[str, int]:
    logger = get_run_logger()
    counts = {"written": 0, "failed": 0}
    gate = asyncio.Semaphore(in_flight)

    async def one(slot: Slot) -> None:
        async with gate:
            outcome = await _attempts(run_id, slot, teacher, student, config, sink)
        counts["written" if outcome.status == "ok" else "failed"] += 1
        logger.info(
            "generation %d/%d: %s prompt %s -> %s",
            counts["written"] + counts["failed"],
            len(slots),
            slot.mode,
            slot.prompt_id,
            outcome.status if outcome.error is None else f"failed: {outcome.error}",
        )

    # A task group cancels the other samples when one raises (a server gone for good).
    try:
        async with asyncio.TaskGroup() as group:
            for slot in slots:
                group.create_task(one(slot))
    except ExceptionGroup as errors:
        # Whichever sample met the fault first says what it is; the rest were cancelled.
        raise errors.exceptions[0] from None
    return counts


def _pending(run_id: str, config: BuildConfig, home: FactoryHome) -> tuple[list[Slot], int]:
    """The slots without a sample, or whose sample failed with attempts left; and the rest."""
    with connect(home.database) as con:
        include = config.curation.include_unchecked_prompts
        prompts = con.execute(
            sql("prompts_of_run"), {"run_id": run_id, "include_unchecked": include}
        ).fetchall()
        stored = {
            sid: (status, attempts)
            for sid, status, attempts in con.execute(
                sql("sample_attempts_of_run"), [run_id]
            ).fetchall()
        }
    slots = []
    for prompt_id, text in prompts:
        for mode in config.generation.modes:
            for index in range(config.generation.samples_per_prompt):
                sid = sample_id(run_id, prompt_id, mode, index)
                status, attempts = stored.get(sid, (None, 0))
                if status != "ok" and attempts < config.generation.max_attempts:
                    slots.append(Slot(sid, prompt_id, text, mode, index, attempts))
    # A stored slot still pending failed before: with attempts left, or with a server fault.
    redone = sum(1 for slot in slots if slot.sample_id in stored)
    return slots, len(stored) - redone


# What a failed slot leaves empty: text, spans, tokens by model, switches, seconds by model.
NO_SAMPLE = [None] * 7


def _head(run_id: str, slot: Slot) -> list:
    """The columns that say which slot a generations row is."""
    return [run_id, slot.sample_id, slot.prompt_id, str(slot.mode), slot.index]


@dataclass(frozen=True)
class Outcome:
    """How a slot's last attempt ended."""

    status: str
    error: str | None


async def _attempts(
    run_id: str,
    slot: Slot,
    teacher: Writer | None,
    student: Writer | None,
    config: BuildConfig,
    sink: Sink,
) -> Outcome:
    """Attempt the slot until it succeeds or runs out of attempts, passing each attempt's
    row to `sink`."""
    outcome = Outcome("failed", None)
    for attempt in range(slot.attempts + 1, config.generation.max_attempts + 1):
        # A fresh seed per attempt: a retry with the same seed would fail the same way.
        seed = sample_seed(
            config.generation.seed, slot.prompt_id, str(slot.mode), slot.index, attempt
        )
        started = time.perf_counter()
        head = _head(run_id, slot)
        try:
            sample = await generate_sample(
                slot.prompt, slot.mode, teacher, student, config.generation, seed
            )
        except GenerationFailed as exc:
            outcome = Outcome("failed", str(exc))
            # A prompt that does not fit is spent at once: no later attempt can help it.
            spent = attempt if exc.retryable else config.generation.max_attempts
            row = [*head, spent, "failed", str(exc), *NO_SAMPLE]
        else:
            outcome = Outcome("ok", None)
            spent = attempt
            row = [
                *head,
                spent,
                "ok",
                None,
                sample.text,
                json.dumps(sample.spans_json()),
                sample.tokens_by("teacher"),
                sample.tokens_by("student"),
                sample.n_switches,
                sample.seconds.get("teacher"),
                sample.seconds.get("student"),
            ]
        row.append(time.perf_counter() - started)
        await sink(row)
        if outcome.status == "ok" or spent == config.generation.max_attempts:
            break
    return outcome
