"""Task: generate every sample the run still lacks, storing each attempt as it completes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass

import duckdb
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tessy_factory.config import BuildConfig, GenerationMode
from tessy_factory.db import connect, sql
from tessy_factory.engine.local_model import LocalModel
from tessy_factory.engine.loop import Writer, generate_sample
from tessy_factory.engine.text_model import GenerationFailed
from tessy_factory.engine.writers import load_writers
from tessy_factory.home import FactoryHome


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


@task(name="generate", cache_policy=NO_CACHE)
def generate(run_id: str, config: BuildConfig, home: FactoryHome) -> dict[str, int]:
    """Generate the run's missing samples, retrying failures up to `max_attempts` in all.

    Attempts are stored with each sample, so the bound holds across re-runs of the build.
    Samples on model servers run concurrently; a server that refuses requests or stays
    unreachable stops the build, keeping every sample already stored.
    """
    logger = get_run_logger()
    slots, done = _pending(run_id, config, home)
    logger.info("generation: %d samples to write, %d already done", len(slots), done)
    if not slots:
        return {"written": 0, "failed": 0}
    teacher, student = load_writers(config, home.models, home.database)
    in_flight = _concurrency(config, teacher, student)
    with connect(home.database) as con:
        return asyncio.run(_generate_slots(run_id, slots, teacher, student, config, con, in_flight))


def _concurrency(config: BuildConfig, *writers: Writer | None) -> int:
    # Local models compute in this process: samples in flight would only take turns.
    local = any(isinstance(w.model, LocalModel) for w in writers if w is not None)
    return 1 if local else config.generation.concurrency


async def _generate_slots(
    run_id: str,
    slots: list[Slot],
    teacher: Writer | None,
    student: Writer | None,
    config: BuildConfig,
    con: duckdb.DuckDBPyConnection,
    in_flight: int,
) -> dict[str, int]:
    logger = get_run_logger()
    counts = {"written": 0, "failed": 0}
    gate = asyncio.Semaphore(in_flight)

    async def one(slot: Slot) -> None:
        async with gate:
            outcome = await _attempts(run_id, slot, teacher, student, config, con)
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
    retries = sum(1 for slot in slots if slot.attempts)
    return slots, len(stored) - retries


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
    con: duckdb.DuckDBPyConnection,
) -> Outcome:
    """Attempt the slot until it succeeds or runs out of attempts, storing each attempt."""
    outcome = Outcome("failed", None)
    for attempt in range(slot.attempts + 1, config.generation.max_attempts + 1):
        # A fresh seed per attempt: a retry with the same seed would fail the same way.
        seed = sample_seed(
            config.generation.seed, slot.prompt_id, str(slot.mode), slot.index, attempt
        )
        started = time.perf_counter()
        head = [run_id, slot.sample_id, slot.prompt_id, str(slot.mode), slot.index]
        try:
            sample = await generate_sample(
                slot.prompt, slot.mode, teacher, student, config.generation, seed
            )
        except GenerationFailed as exc:
            outcome = Outcome("failed", str(exc))
            # A prompt that does not fit is spent at once: no later attempt can help it.
            spent = attempt if exc.retryable else config.generation.max_attempts
            row = [*head, spent, "failed", str(exc), None, None, None, None, None, None, None]
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
        con.execute(sql("upsert_generation"), [*row, time.perf_counter() - started])
        if outcome.status == "ok" or spent == config.generation.max_attempts:
            break
    return outcome
