"""Benchmark: the openai backend's per-sample coroutines against a lock-step pool.

The trained miniature teacher and student are each served on loopback, by `transformers
serve --continuous-batching` or by vLLM's CPU build (`SERVERS`), with their trained
predictors: unlike random
bench-sized models, they end their thinking and their answers where the problem has them
end, so samples differ in length as real ones do (the random bench LM ends them at
arbitrary points or never). The samples are of the demo's three modes, in turn: a
teacher-only or student-only sample asks for its whole thinking and answer in one request,
a TESSY sample for 5-10 tokens at a time, so requests differ widely in length. Samples that fail
are work all the same.

- per-sample coroutines (the factory): each sample advances as soon as its own request
  returns, and a new sample starts as soon as one finishes, `concurrency` in flight;
- lock-step pool (the authors' design): samples run in pools of `concurrency`; every step
  sends one request per unfinished sample of the pool and waits for all of them, and the
  next pool starts when the whole pool is done.

Both use the same loop, predictors and batched classification; throughput is tokens
written per second of wall time. Beside them, `plain`: every prompt's teacher completion of
up to 128 tokens, all at once, no loop: what the server itself delivers.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tessy_factory.config import GenerationConfig, GenerationMode, ModelConfig, PredictorConfig
from tessy_factory.demo.problems import build_problems
from tessy_factory.engine import transformers_server, vllm_server
from tessy_factory.engine.batching import LabelBatcher
from tessy_factory.engine.loop import Writer, generate_sample
from tessy_factory.engine.loopback import Server
from tessy_factory.engine.openai_model import OpenAIModel
from tessy_factory.engine.predictor import BoundaryPredictor
from tessy_factory.engine.text_model import Continuation, GenerationFailed
from tessy_factory.miniature.build import ensure_miniature

# How each server kind is started on the model directories; each yields its `Server`s.
SERVERS = {
    "transformers": partial(transformers_server.running, continuous_batching=True),
    "vllm": vllm_server.running,
}
GENERATION = GenerationConfig(max_total_tokens=512, answer_max_tokens=256)
CHUNKS = {"teacher": 10, "student": 5}


class CountingServedModel(OpenAIModel):
    """The served model, counting the tokens it writes."""

    tokens = 0

    async def complete(self, prefix, max_new_tokens, cache, seed, stop=None) -> Continuation:
        continuation = await super().complete(prefix, max_new_tokens, cache, seed, stop)
        self.tokens += len(continuation.pieces)
        return continuation


class LockStep:
    """Holds every request until each unfinished sample of the pool has sent one."""

    def __init__(self) -> None:
        self.running = 0
        self._held: list[tuple[object, asyncio.Future]] = []
        self._steps: set[asyncio.Task] = set()

    async def send(self, request) -> Continuation:
        future = asyncio.get_running_loop().create_future()
        self._held.append((request, future))
        self._release_if_complete()
        return await future

    def finished(self) -> None:
        self.running -= 1
        self._release_if_complete()

    def _release_if_complete(self) -> None:
        if self._held and len(self._held) == self.running:
            step, self._held = self._held, []
            task = asyncio.ensure_future(self._step(step))
            self._steps.add(task)
            task.add_done_callback(self._steps.discard)

    async def _step(self, step) -> None:
        results = await asyncio.gather(*(request for request, _ in step), return_exceptions=True)
        for (_, future), result in zip(step, results, strict=True):
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


class LockStepModel(CountingServedModel):
    """The served model, its requests sent in lock-step steps."""

    lock_step: LockStep

    async def complete(self, prefix, max_new_tokens, cache, seed, stop=None) -> Continuation:
        return await self.lock_step.send(super().complete(prefix, max_new_tokens, cache, seed))


def served_writers(miniature: Path, urls: dict[str, str], model_class: type) -> dict[str, Writer]:
    writers = {}
    for role, url in urls.items():
        config = ModelConfig(
            model=f"miniature:{role}",
            chunk_tokens=CHUNKS[role],
            temperature=0.3,
            backend="openai",
            base_url=url,
            served_model=str(miniature / role),
        )
        model = model_class(role, str(miniature / role), config)
        path = str(miniature / f"{role}-predictor")
        predictor = BoundaryPredictor(role, path, PredictorConfig(model=path))
        writers[role] = Writer(role, model, LabelBatcher(predictor, max_batch=32))
    return writers


# A build over several modes, as the demo's: a teacher-only sample asks for its whole
# thinking at once, a TESSY sample for 5-10 tokens at a time.
MODES = (GenerationMode.TESSY, GenerationMode.TEACHER_ONLY, GenerationMode.STUDENT_ONLY)

Job = tuple[str, GenerationMode]


async def _one(writers: dict[str, Writer], job: Job, seed: int) -> bool:
    prompt, mode = job
    try:
        await generate_sample(
            prompt, mode, writers["teacher"], writers["student"], GENERATION, seed
        )
    except GenerationFailed:
        return False
    return True


async def coroutines(writers, jobs: list[Job], concurrency: int) -> list[bool]:
    gate = asyncio.Semaphore(concurrency)

    async def gated(seed: int, job: Job) -> bool:
        async with gate:
            return await _one(writers, job, seed)

    return await asyncio.gather(*(gated(seed, job) for seed, job in enumerate(jobs)))


async def lock_step_pools(writers, jobs: list[Job], concurrency: int) -> list[bool]:
    lock_step = LockStep()
    for writer in writers.values():
        writer.model.lock_step = lock_step
    outcomes = []
    for start in range(0, len(jobs), concurrency):
        pool = list(enumerate(jobs))[start : start + concurrency]
        lock_step.running = len(pool)

        async def member(seed: int, job: Job) -> bool:
            try:
                return await _one(writers, job, seed)
            finally:
                lock_step.finished()

        outcomes += await asyncio.gather(*(member(seed, job) for seed, job in pool))
    return outcomes


# Plain completions: the server's own throughput, without the TESSY loop or predictors.
PLAIN_TOKENS = 128


async def plain_completions(writers, jobs: list[Job], concurrency: int) -> list[bool]:
    """Every prompt's teacher thinking, up to `PLAIN_TOKENS` tokens, all sent at once."""
    model = writers["teacher"].model

    async def one(seed: int, prompt: str) -> bool:
        await model.complete(model.prompt_text(prompt), PLAIN_TOKENS, None, seed)
        return True

    return await asyncio.gather(*(one(seed, prompt) for seed, (prompt, _) in enumerate(jobs)))


@dataclass(frozen=True)
class Schedules:
    """The jobs, the running servers (teacher, student), and the writers of each schedule."""

    jobs: list[Job]
    servers: list[Server]
    ours: dict[str, Writer]
    theirs: dict[str, Writer]


def timed(schedule, writers, jobs, concurrency) -> tuple[float, int, int]:
    """(seconds, tokens written, samples that succeeded)."""
    for writer in writers.values():
        writer.model.tokens = 0
    started = time.perf_counter()
    outcomes = asyncio.run(schedule(writers, jobs, concurrency))
    seconds = time.perf_counter() - started
    return seconds, sum(w.model.tokens for w in writers.values()), sum(outcomes)


@contextmanager
def served_schedules(models_root: Path, samples: int, server: str) -> Iterator[Schedules]:
    """The benchmark's jobs, the two servers started and warmed up, and the writers of each
    schedule on them: what this benchmark and `server_profile` share."""
    miniature = ensure_miniature(models_root)
    problems = build_problems(samples, 2026)
    jobs = [(problems[i].text, MODES[i % len(MODES)]) for i in range(samples)]
    dirs = [str(miniature / "teacher"), str(miniature / "student")]
    with SERVERS[server](dirs) as servers:
        urls = {"teacher": servers[0].url, "student": servers[1].url}
        ours = served_writers(miniature, urls, CountingServedModel)
        theirs = served_writers(miniature, urls, LockStepModel)
        asyncio.run(coroutines(ours, jobs[:3], 3))  # warm the servers up
        yield Schedules(jobs, servers, ours, theirs)


def run(
    models_root: Path, samples: int, concurrency: int, repeats: int, server: str = "transformers"
) -> dict:
    with served_schedules(models_root, samples, server) as served:
        jobs, ours, theirs = served.jobs, served.ours, served.theirs
        results = {"coroutines": [], "lock-step": [], "plain": []}
        for _ in range(repeats):
            results["lock-step"].append(timed(lock_step_pools, theirs, jobs, concurrency))
            results["coroutines"].append(timed(coroutines, ours, jobs, concurrency))
            results["plain"].append(timed(plain_completions, ours, jobs, concurrency))
    return results


def print_table(results: dict) -> None:
    print(f"{'schedule':>11} {'seconds':>8} {'tokens':>7} {'ok':>4} {'tokens/s':>9}")
    rates = {}
    for name, runs in results.items():
        rates[name] = statistics.median(tokens / seconds for seconds, tokens, _ in runs)
        seconds = statistics.median(run[0] for run in runs)
        tokens = statistics.median(run[1] for run in runs)
        ok = statistics.median(run[2] for run in runs)
        print(f"{name:>11} {seconds:>8.1f} {tokens:>7.0f} {ok:>4.0f} {rates[name]:>9.1f}")
    print(
        f"throughput ratio, coroutines / lock-step: {rates['coroutines'] / rates['lock-step']:.2f}x"
    )
