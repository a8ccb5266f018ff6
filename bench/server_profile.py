"""Where the server benchmark's time goes: the work each schedule of `server_pool` does.

Counted, not sampled, so it reads the same on a busy machine, where wall times swing:
requests and the tokens the servers wrote, CPU seconds of the client and of each server,
how long no request was in flight, how many forward passes the boundary predictors ran
and their seconds, and how long a sample waited for its labels. For the time inside the
processes, sample them: `py-spy record --pid PID --idle --threads --format raw`.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import psutil
import server_pool

from tessy_factory.engine.batching import LabelBatcher
from tessy_factory.engine.openai_model import OpenAIModel
from tessy_factory.engine.predictor import BoundaryPredictor


class Counters:
    """Requests in flight over time, predictor calls and label waits of one run."""

    def __init__(self) -> None:
        self.events: list[tuple[float, int]] = []  # (time, +1 sent / -1 answered)
        self.predictor_calls = 0
        self.predictor_s = 0.0
        self.label_waits: list[float] = []

    def idle_s(self, started: float, ended: float) -> float:
        """Seconds of the run with no request in flight."""
        idle, in_flight, last = 0.0, 0, started
        for at, step in sorted(self.events):
            idle += (in_flight == 0) * (at - last)
            in_flight, last = in_flight + step, at
        return idle + (ended - last)


@contextmanager
def counting(counters: Counters):
    """Count, for the duration, on the classes both schedules share."""
    complete, label_chunks, label = (
        OpenAIModel.complete,
        BoundaryPredictor.label_chunks,
        LabelBatcher.label,
    )

    async def counted_complete(self, *args, **kwargs):
        counters.events.append((time.perf_counter(), 1))
        try:
            return await complete(self, *args, **kwargs)
        finally:
            counters.events.append((time.perf_counter(), -1))

    def counted_label_chunks(self, requests):
        started = time.perf_counter()
        try:
            return label_chunks(self, requests)
        finally:
            counters.predictor_calls += 1
            counters.predictor_s += time.perf_counter() - started

    async def counted_label(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return await label(self, *args, **kwargs)
        finally:
            counters.label_waits.append(time.perf_counter() - started)

    OpenAIModel.complete = counted_complete
    BoundaryPredictor.label_chunks = counted_label_chunks
    LabelBatcher.label = counted_label
    try:
        yield counters
    finally:
        OpenAIModel.complete = complete
        BoundaryPredictor.label_chunks = label_chunks
        LabelBatcher.label = label


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _server_cpu_s(server: psutil.Process) -> float:
    """CPU seconds of a server and of the processes it started (vLLM's engine core)."""
    return sum(map(_cpu_s, [server, *server.children(recursive=True)]))


def profiled(schedule, writers, jobs, concurrency, servers) -> dict[str, float]:
    """One run of `schedule` with its counters."""
    client, served = psutil.Process(), [psutil.Process(s.process.pid) for s in servers]
    for writer in writers.values():
        writer.model.tokens = 0
    cpu_before = [_cpu_s(client), *map(_server_cpu_s, served)]
    with counting(Counters()) as counters:
        started = time.perf_counter()
        asyncio.run(schedule(writers, jobs, concurrency))
        ended = time.perf_counter()
    cpu_after = [_cpu_s(client), *map(_server_cpu_s, served)]
    cpu = [after - before for before, after in zip(cpu_before, cpu_after, strict=True)]
    return {
        "wall s": ended - started,
        "requests": len(counters.events) / 2,
        "tokens": sum(writer.model.tokens for writer in writers.values()),
        "client CPU s": cpu[0],
        "teacher server CPU s": cpu[1],
        "student server CPU s": cpu[2],
        "no request in flight s": counters.idle_s(started, ended),
        "predictor calls": counters.predictor_calls,
        "predictor s": counters.predictor_s,
        "label wait ms": 1000 * statistics.mean(counters.label_waits or [0.0]),
    }


def run(
    models_root: Path, samples: int, concurrency: int, repeats: int, server: str = "transformers"
) -> dict:
    with server_pool.served_schedules(models_root, samples, server) as served:
        results = defaultdict(list)
        for _ in range(repeats):
            args = (served.jobs, concurrency, served.servers)
            results["lock-step"].append(profiled(server_pool.lock_step_pools, served.theirs, *args))
            results["coroutines"].append(profiled(server_pool.coroutines, served.ours, *args))
    return results


def print_table(results: dict) -> None:
    names = list(results)
    print(f"{'median of the runs':>24} " + " ".join(f"{name:>11}" for name in names))
    for measure in results[names[0]][0]:
        medians = [statistics.median(run[measure] for run in results[name]) for name in names]
        print(f"{measure:>24} " + " ".join(f"{value:>11.2f}" for value in medians))
