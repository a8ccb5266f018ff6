"""Run the benchmarks and print their tables: medians and ratios, every baseline measured in
the same run on the same machine.

    .venv/bin/python bench/run.py                  # everything (about half an hour on 2 cores)
    .venv/bin/python bench/run.py --only verify --repeats 5
    .venv/bin/python bench/run.py --only local --lengths 256 1024 --repeats 3
    .venv/bin/python bench/run.py --only server --samples 24 --concurrency 8
    .venv/bin/python bench/run.py --only server --server transformers vllm
    .venv/bin/python bench/run.py --only server-profile --server transformers vllm
    .venv/bin/python bench/run.py --only demo --samples 24 --repeats 3
    .venv/bin/python bench/run.py --only neardup --docs 100000
    .venv/bin/python bench/run.py --only curation --rows 100000
    .venv/bin/python bench/run.py --only dask --samples 12 --shard-size 4 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import curation
import dask_runner
import demo_engine
import local_engine
import near_dup
import sandbox_judge
import server_pool
import server_profile
import torch
from bench_models import build_bench_models

from tessy_factory.home import FactoryHome

SERVER_NAMES = {
    "transformers": "transformers serve --continuous-batching",
    "vllm": "vLLM (CPU build)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=[
            "local",
            "server",
            "server-profile",
            "verify",
            "demo",
            "neardup",
            "curation",
            "dask",
        ],
    )
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--repeats", type=int, help="default 3; 1 for curation (its size)")
    parser.add_argument("--samples", type=int, default=24)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--server",
        nargs="+",
        choices=sorted(server_pool.SERVERS),
        default=["transformers"],
        help="server benchmark: the servers to run it on, one after the other (vllm needs "
        "scripts/setup-vllm.sh)",
    )
    parser.add_argument("--workers", type=int, default=0, help="judging: 0 is one per core")
    parser.add_argument("--sandboxes", nargs="+", default=["bubblewrap", "unshare"])
    parser.add_argument("--docs", type=int, default=100_000, help="near-dup: corpus size")
    parser.add_argument("--rows", type=int, default=100_000, help="curation: generated rows")
    parser.add_argument("--shard-size", type=int, default=4, help="dask: samples per shard")
    parser.add_argument(
        "--one-core",
        action="store_true",
        help="dask: only the one-core pair (the runner's own cost; big builds take long on two "
        "torch threads)",
    )
    args = parser.parse_args()
    if args.only in (None, "neardup"):
        print(
            f"Near-duplicates: {args.docs} synthetic documents of 200-400 words, ours against "
            "datasketch's MinHashLSH (one run each, same shingles, signature and bands)"
        )
        near_dup.print_table(near_dup.run(args.docs))
        if args.only == "neardup":
            return
    if args.only in (None, "curation"):
        # One run by default: the stage takes minutes at 100k rows.
        repeats = args.repeats or 1
        print(
            f"\nCuration stage: {args.rows} synthetic generated rows in a factory database, "
            f"each step as a build runs it (medians of {repeats} runs)"
        )
        curation.print_table(curation.run(args.rows, repeats))
        if args.only == "curation":
            return
    args.repeats = args.repeats or 3
    if args.only in (None, "dask"):
        # --samples counts prompts here: each is written in two modes.
        print(
            f"\nDask runner against the local runner: {args.samples} demo prompts x (tessy, "
            f"student-only), generation and verification, a LocalCluster of {os.cpu_count()} "
            f"single-threaded workers, shards of {args.shard_size} (medians of {args.repeats} "
            "alternating runs)"
        )
        medians, wire = dask_runner.run(
            FactoryHome.resolve(None).models,
            args.samples,
            args.repeats,
            args.shard_size,
            args.one_core,
        )
        dask_runner.print_table(medians)
        print("\nBytes over the wire (pickled as Dask sends them; the rows of the last build):")
        dask_runner.print_wire(wire)
        print("\nThe DuckDB writer: generations rows upserted per second, as shards are stored")
        dask_runner.print_rates(
            [
                dask_runner.writer_rate(500, shard, chars, args.repeats)
                for chars in (2_000, 16_000)
                for shard in (8, 64)
            ]
        )
        if args.only == "dask":
            return
    if args.only in (None, "verify"):
        print(
            f"Judging the 164 HumanEval reference solutions, {args.workers or 'one per core'} "
            f"workers (medians of {args.repeats} alternating runs)"
        )
        results = sandbox_judge.run(args.sandboxes, args.repeats, args.workers)
        sandbox_judge.print_table(results)
        if args.only == "verify":
            return
    if args.only in (None, "demo"):
        print(
            f"\nDemo build: tessy against teacher-only, {args.samples} demo prompts, configs/"
            f"demo.yaml with its predictors, local backend, {torch.get_num_threads()} torch "
            f"threads (medians of {args.repeats} rounds of alternating pairs)"
        )
        # The trained miniature models, built once into the factory home if missing.
        demo_engine.print_table(
            demo_engine.run(FactoryHome.resolve(None).models, args.samples, args.repeats)
        )
        if args.only == "demo":
            return
    if args.only == "server-profile":
        for server in args.server:
            print(
                f"\nServer benchmark's work on {SERVER_NAMES[server]}: {args.samples} samples, "
                f"{args.concurrency} in flight (medians of {args.repeats} runs of each schedule)"
            )
            server_profile.print_table(
                server_profile.run(
                    FactoryHome.resolve(None).models,
                    args.samples,
                    args.concurrency,
                    args.repeats,
                    server,
                )
            )
        return
    with tempfile.TemporaryDirectory(prefix="tessy-bench-") as tmp:
        models = build_bench_models(Path(tmp))
        print(f"{local_engine.describe(models)}, {torch.get_num_threads()} torch threads")
        if args.only in (None, "local"):
            print(
                f"\nLocal engine: TESSY thinking of N tokens (medians of {args.repeats} runs; "
                f"TESSY and teacher-only in at least {args.repeats} pairs, more when short)"
            )
            local_engine.print_table(local_engine.run(models, args.lengths, args.repeats))
        if args.only in (None, "server"):
            # The trained miniature models, built once into the factory home if missing.
            models_root = FactoryHome.resolve(None).models
            for server in args.server:
                print(
                    f"\nServers: {args.samples} samples of the miniature models (tessy, "
                    f"teacher-only, student-only in turn), {args.concurrency} in flight, "
                    f"{SERVER_NAMES[server]} (medians of {args.repeats} runs)"
                )
                server_pool.print_table(
                    server_pool.run(
                        models_root, args.samples, args.concurrency, args.repeats, server
                    )
                )


if __name__ == "__main__":
    main()
