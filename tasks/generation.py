"""Task: generate every sample the run still lacks, storing each one as it completes."""

from __future__ import annotations

import hashlib
import json
import time

import torch
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tessy_factory.config import BuildConfig, GenerationMode
from tessy_factory.db import connect, sql
from tessy_factory.engine.loop import GenerationFailed, Writer, generate_sample
from tessy_factory.engine.writers import load_writers
from tessy_factory.home import FactoryHome


def sample_id(run_id: str, prompt_id: str, mode: str, index: int) -> str:
    """Stable id of one sample slot, so a resumed run fills exactly the missing slots."""
    return hashlib.sha256(f"{run_id}|{prompt_id}|{mode}|{index}".encode()).hexdigest()[:16]


def _seed(base: int, sample: str) -> int:
    return (base * 1_000_003 + int(sample, 16)) % 2**31


@task(name="generate", cache_policy=NO_CACHE)
def generate(run_id: str, config: BuildConfig, home: FactoryHome) -> dict[str, int]:
    """Generate the missing samples of the run in every configured mode."""
    logger = get_run_logger()
    with connect(home.database) as con:
        prompts = con.execute(sql("prompts_of_run"), [run_id]).fetchall()
        done = {row[0] for row in con.execute(sql("sample_ids_of_run"), [run_id]).fetchall()}
    slots = [
        (prompt_id, text, mode, index)
        for prompt_id, text in prompts
        for mode in config.generation.modes
        for index in range(config.generation.samples_per_prompt)
        if sample_id(run_id, prompt_id, mode, index) not in done
    ]
    logger.info("generation: %d samples to write, %d already done", len(slots), len(done))
    if not slots:
        return {"written": 0, "failed": 0}
    teacher, student = load_writers(config, home.models)
    counts = {"written": 0, "failed": 0}
    with connect(home.database) as con:
        for position, (prompt_id, text, mode, index) in enumerate(slots, start=1):
            row = _one_sample(run_id, prompt_id, text, mode, index, teacher, student, config)
            con.execute(sql("insert_generation"), row)
            counts["written" if row[5] == "ok" else "failed"] += 1
            logger.info(
                "generation %d/%d: %s prompt %s -> %s",
                position,
                len(slots),
                mode,
                prompt_id,
                row[5] if row[6] is None else f"failed: {row[6]}",
            )
    return counts


def _one_sample(
    run_id: str,
    prompt_id: str,
    text: str,
    mode: GenerationMode,
    index: int,
    teacher: Writer | None,
    student: Writer | None,
    config: BuildConfig,
) -> list:
    sid = sample_id(run_id, prompt_id, mode, index)
    torch.manual_seed(_seed(config.generation.seed, sid))
    started = time.perf_counter()
    head = [run_id, sid, prompt_id, str(mode), index]
    try:
        sample = generate_sample(text, mode, teacher, student, config.generation)
    except GenerationFailed as exc:
        return [
            *head,
            "failed",
            str(exc),
            None,
            None,
            None,
            None,
            None,
            time.perf_counter() - started,
        ]
    return [
        *head,
        "ok",
        None,
        sample.text,
        json.dumps(sample.spans_json()),
        sample.tokens_by("teacher"),
        sample.tokens_by("student"),
        sample.n_switches,
        time.perf_counter() - started,
    ]
