"""Benchmark: the dask runner's overhead against the local runner, on the same cores.

The same small build (demo prompts, tessy and student-only, the miniature models) is run to
the end of verification with each runner in turn, alternating which goes first: the local
runner in this process (torch on every core), and the dask runner on a LocalCluster of one
single-threaded worker process per core, which it starts and stops inside the timing. Each
run starts from a fresh home whose prompts are loaded and checked (not timed). Also timed:
the DuckDB writer alone, upserting generations rows as the flow stores a shard's, for the
README's paper plan.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from prefect import flow

from tasks.generation import ShardJob, _pending, run_generation
from tasks.runs import open_run
from tasks.sourcing import load_prompts, settle_prompts
from tasks.verification import check_tests, run_verification
from tessy_factory.config import BuildConfig
from tessy_factory.db import connect, store
from tessy_factory.execution import open_runner
from tessy_factory.home import FactoryHome
from tessy_factory.miniature.build import ensure_miniature

# (name, task runner, processes, torch threads each): every core each way; and one core
# each way, where both do the same arithmetic and the difference is the runner's own cost.
RUNNERS = (
    ("local", "local", 1, 0),
    ("dask", "dask", 0, 1),
    ("local 1 core", "local", 1, 1),
    ("dask 1 worker", "dask", 1, 1),
)
MODES = ["tessy", "student-only"]


def build_config(
    home: Path, runner: str, workers: int, prompts: int, shard_size: int
) -> BuildConfig:
    return BuildConfig.model_validate(
        {
            "home": str(home),
            "sources": [{"kind": "demo", "count": prompts, "seed": 11}],
            "generation": {"modes": MODES, "max_total_tokens": 128, "answer_max_tokens": 64},
            "execution": {
                "task_runner": runner,
                "dask_workers": workers or os.cpu_count() or 1,
                "threads_per_worker": 1,
                "shard_size": shard_size,
            },
        }
    )


@flow(name="bench-dask-stages", validate_parameters=False)
def stages(run_id: str, config: BuildConfig, home: FactoryHome) -> dict[str, float]:
    """Generation and verification as the build flow runs them, timed: the runner's start,
    each stage, and the whole with the runner's stop."""
    started = time.perf_counter()
    with open_runner(config.execution) as task_runner:
        ready = time.perf_counter()
        run_generation(run_id, config, home, task_runner)
        generated = time.perf_counter()
        run_verification(run_id, config, home, task_runner)
        verified = time.perf_counter()
    return {
        "start s": ready - started,
        "generate s": generated - ready,
        "verify s": verified - generated,
        "total s": time.perf_counter() - started,
    }


def timed_build(
    root: Path, models_root: Path, variant: tuple, prompts: int, shard_size: int
) -> tuple[dict, tuple]:
    """Seconds of the runner's start, generation, verification and the three together;
    and what `wire_bytes` measures the build's shards by (its database, slots and job)."""
    root.mkdir(parents=True)
    (root / "models").symlink_to(models_root, target_is_directory=True)
    home = FactoryHome.resolve(root)
    _, runner, workers, threads = variant
    config = build_config(root, runner, workers, prompts, shard_size)
    run_id = f"bench-{runner}"
    open_run(run_id, config, home, sources={})
    load_prompts(run_id, config.sources, home, root)
    check_tests(run_id, config.verification, home)
    settle_prompts(run_id, home)
    slots, _ = _pending(run_id, config, home)
    cores = torch.get_num_threads()
    # A dask worker runs torch on one thread (Dask's default); the local runner on `threads`.
    torch.set_num_threads(threads or cores)
    try:
        times = stages(run_id, config, home)
    finally:
        torch.set_num_threads(cores)
    with connect(home.database) as con:
        samples = con.execute("SELECT count(*) FROM generations WHERE status = 'ok'").fetchone()[0]
    times["samples"] = samples
    return times, (home.database, slots, ShardJob(run_id, config, str(home.models), {}))


def run(
    models_root: Path, prompts: int, repeats: int, shard_size: int, one_core: bool = False
) -> tuple[dict, dict]:
    """Per runner (the one-core pair only with `one_core`), the medians of each measure over
    `repeats` builds, alternating order; and the bytes over the wire of the last build (its
    rows are the same on either runner)."""
    runners = RUNNERS[2:] if one_core else RUNNERS
    from prefect.testing.utilities import prefect_test_harness

    ensure_miniature(models_root)
    results: dict[str, list[dict]] = {variant[0]: [] for variant in runners}
    with prefect_test_harness(server_startup_timeout=180), tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats):
            order = runners if repeat % 2 == 0 else runners[::-1]
            for index, variant in enumerate(order):
                root = Path(tmp) / f"{repeat}-{index}"
                times, built = timed_build(root, models_root, variant, prompts, shard_size)
                results[variant[0]].append(times)
        wire = wire_bytes(*built)
    medians = {
        runner: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for runner, runs in results.items()
    }
    return medians, wire


def print_table(medians: dict) -> None:
    keys = list(next(iter(medians.values())))
    print(f"| runner | {' | '.join(keys)} |")
    print(f"|---|{'---|' * len(keys)}")
    for runner, values in medians.items():
        print(f"| {runner} | {' | '.join(f'{values[k]:.1f}' for k in keys)} |")
    for dask, local in (("dask", "local"), ("dask 1 worker", "local 1 core")):
        if local not in medians:
            continue
        for key in ("total s", "generate s"):
            ratio = medians[dask][key] / medians[local][key]
            print(f"{dask} / {local}, {key.removesuffix(' s')}: {ratio:.2f}x ({ratio - 1:+.0%})")


def wire_bytes(database: Path, slots: list, job: object) -> dict:
    """Bytes a finished build's shards sent over the wire, pickled as Dask sends them: the
    job (config, paths), per sample the slot sent out and the generations row sent back,
    and per judged sample its (id, text, tests) out and its verdict row back."""
    import cloudpickle

    with connect(database) as con:
        rows = con.execute(WIRE_ROWS).fetchall()
        to_judge = con.execute(WIRE_JUDGED).fetchall()
        verdicts = con.execute("SELECT * FROM verdicts").fetchall()
    return {
        "job B": len(cloudpickle.dumps(job)),
        "slot out B/sample": len(cloudpickle.dumps(slots)) / len(slots),
        "row back B/sample": len(cloudpickle.dumps([list(r) for r in rows])) / len(rows),
        "judge out B/sample": len(cloudpickle.dumps(to_judge)) / len(to_judge),
        "verdict back B/sample": len(cloudpickle.dumps([list(v) for v in verdicts]))
        / len(verdicts),
    }


# A generations row as a shard returns it, and a sample as a verification shard gets it.
WIRE_ROWS = """
SELECT run_id, sample_id, prompt_id, mode, sample_index, attempts, status, error, text, spans,
       teacher_tokens, student_tokens, n_switches, teacher_seconds, student_seconds, seconds
FROM generations
"""
WIRE_JUDGED = """
SELECT g.sample_id, g.text, p.tests FROM generations AS g
JOIN prompts AS p USING (run_id, prompt_id) WHERE g.status = 'ok'
"""


# Tokens by model, switches, seconds by model and in all: any values of the right types.
NUMBERS = (900, 100, 20, 1.0, 0.5, 1.5)


def writer_rate(rows: int, shard: int, text_chars: int, repeats: int) -> dict:
    """Generations rows upserted per second as the flow stores shards of `shard` rows, each
    in its own spell on the database (open, upsert, close), medians of `repeats`; each row
    with `text_chars` of text and spans as long (a paper-scale sample: ~4k tokens)."""
    text = "x" * text_chars
    # A span of 20 characters of text is about 80 of JSON.
    span = '{"author":"student","text":"%s","tokens":5,"phase":"thinking"}' % ("y" * 20)
    spans = "[" + ",".join([span] * max(text_chars // 80, 1)) + "]"
    rates = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            database = Path(tmp) / "factory.duckdb"
            batch = [
                ["w", f"s{n:08d}", f"p{n}", "tessy", 0, 1, "ok", None, text, spans, *NUMBERS]
                for n in range(rows)
            ]
            started = time.perf_counter()
            for start in range(0, rows, shard):
                store(database, "upsert_generation", batch[start : start + shard])
            rates.append(rows / (time.perf_counter() - started))
    return {
        "rows": rows,
        "shard": shard,
        "text chars": text_chars,
        "upserts/s": statistics.median(rates),
    }


def print_wire(wire: dict) -> None:
    print(" | ".join(f"{key}: {value:,.0f}" for key, value in wire.items()))


def print_rates(rates: list[dict]) -> None:
    print("| rows | rows per store | text chars | upserts/s |")
    print("|---|---|---|---|")
    for r in rates:
        print(f"| {r['rows']} | {r['shard']} | {r['text chars']} | {r['upserts/s']:,.0f} |")
