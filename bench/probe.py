"""The probe preset end to end, per seed: build configs/probe-demo-build.yaml with that
`generation.seed`, probe the version it published with configs/probe-demo.yaml, and print
each probe's table, the tables of all seeds side by side, and the timings: the build's and
the probe's wall time, the probe's split into training and evaluation, and its memory peak.

    .venv/bin/python bench/probe.py --home /tmp/probe-home --seeds 0 1 2 3 4
    .venv/bin/python bench/probe.py --home /tmp/probe-home --world paper --seeds 0 1 2 3 4
    .venv/bin/python bench/probe.py --home /tmp/probe-home --seeds 0   # the benchmark
    .venv/bin/python bench/probe.py --home /tmp/probe-home --probe-only   # its newest version

Each build and each probe runs as `tessy build` / `tessy probe` in a child process of its
own, so each one's peak RSS and CPU time are its own (`getrusage`; the judge's sandboxed
programs are their own processes, not counted). CPU time hardly depends on what else the
machine runs; wall time does. The paper world builds and probes with the
`miniature-paper:` models, as a dataset of its own (tessy/probe-demo-paper).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tessy_factory.db import connect  # noqa: E402
from tessy_factory.probe.results import probe_rows, probe_table  # noqa: E402

MODEL_KEYS = ("teacher", "student", "teacher_predictor", "student_predictor")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--world", choices=["demo", "paper"], default="demo")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--build", type=Path, default=REPO / "configs/probe-demo-build.yaml")
    parser.add_argument("--probe", type=Path, default=REPO / "configs/probe-demo.yaml")
    parser.add_argument(
        "--probe-only", action="store_true", help="probe the newest version; build nothing"
    )
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        return _child(args.child)
    home = args.home.resolve()
    results = []
    with tempfile.TemporaryDirectory(prefix="probe-bench-") as scratch:
        for seed in args.seeds:
            build_file, probe_file = _configs(args, seed, Path(scratch))
            if args.probe_only:
                build, version = None, "latest"
            else:
                build = _run(["build", str(build_file), "--home", str(home)])
                version = _published(build["output"])
            probe = _run(["probe", str(probe_file), "--version", version, "--home", str(home)])
            version = _probed(probe["output"])
            with connect(home / "factory.duckdb", read_only=True) as con:
                repo_id = yaml.safe_load(build_file.read_text())["publish"]["repo_id"]
                rows = probe_rows(con, repo_id, version)
            print(f"\n## seed {seed}: {repo_id} {version}\n\n{probe_table(rows)}", flush=True)
            results.append((seed, version, build, probe, rows))
    _print_seeds(results, args.world)
    _print_timings(results)


def _configs(args: argparse.Namespace, seed: int, scratch: Path) -> tuple[Path, Path]:
    """The preset's two configs for one seed (and world), written to `scratch`."""
    build = yaml.safe_load(args.build.read_text())
    probe = yaml.safe_load(args.probe.read_text())
    build["generation"]["seed"] = seed
    if args.world != "demo":
        prefix = f"miniature-{args.world}:"
        for key in MODEL_KEYS:
            build[key]["model"] = build[key]["model"].replace("miniature:", prefix)
        probe["student"]["model"] = probe["student"]["model"].replace("miniature:", prefix)
        build["publish"]["repo_id"] += f"-{args.world}"
        probe["dataset"]["repo_id"] += f"-{args.world}"
    build_file = scratch / f"build-{args.world}-{seed}.yaml"
    probe_file = scratch / f"probe-{args.world}-{seed}.yaml"
    build_file.write_text(yaml.safe_dump(build, sort_keys=False))
    probe_file.write_text(yaml.safe_dump(probe, sort_keys=False))
    return build_file, probe_file


def _run(command: list[str]) -> dict:
    """`tessy COMMAND` in a child process: its wall time, peak RSS and output."""
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "--home", ".", "--child", report.name, *command],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        wall = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(
                f"tessy {' '.join(command)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
            )
        measured = json.loads(Path(report.name).read_text())
    return {"wall_s": wall, "output": done.stdout, **measured}


def _child(argv: list[str]) -> None:
    """Run `tessy ARGS` here, then write this process's peak RSS to the report file."""
    report, *command = argv
    from tessy_factory.cli import app

    try:
        app(command, standalone_mode=False)
    finally:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        measured = {"peak_rss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime}
        Path(report).write_text(json.dumps(measured))


def _published(output: str) -> str:
    for line in output.splitlines():
        if " as v" in line and "published" in line:
            return line.rsplit(" as ", 1)[1].strip()
    sys.exit(f"the build published no version:\n{output[-3000:]}")


def _probed(output: str) -> str:
    for line in output.splitlines():
        if line.startswith("Probe ") and " of " in line:
            return line.rsplit(" ", 1)[1].strip()
    sys.exit(f"the probe named no version:\n{output[-3000:]}")


def _print_seeds(results: list, world: str) -> None:
    """Per mode, each seed's figures side by side."""
    modes = list(dict.fromkeys(row["mode"] for *_, rows in results for row in rows))
    ks = sorted({k for *_, rows in results for row in rows for k in row["pass_at"]}, key=int)
    seeds = ", ".join(str(seed) for seed, *_ in results)
    print(f"\n## {world} world, generation.seed {seeds}\n")
    head = ["mode", "rows"] + [f"pass@{k}" for k in ks] + ["phrases / 1k", "student NLL"]
    print("| " + " | ".join(head) + " |")
    print("| --- " + "| ---: " * (len(head) - 1) + "|")
    for mode in modes:
        rows = [next((r for r in rows if r["mode"] == mode), None) for *_, rows in results]
        rows = [r for r in rows if r is not None and r["status"] == "done"]
        cells = [
            mode,
            ", ".join("" if r["train_rows"] is None else str(r["train_rows"]) for r in rows),
        ]
        cells += [", ".join(f"{r['pass_at'][k]:.3f}" for r in rows) for k in ks]
        cells += [", ".join(_fmt(r["phrase_per_1k_tokens"], "{:.0f}") for r in rows)]
        cells += [", ".join(_fmt(r["student_nll"], "{:.3f}") for r in rows)]
        print("| " + " | ".join(cells) + " |")


def _print_timings(results: list) -> None:
    print(
        "\n| seed | build wall s (CPU s) | probe wall s (CPU s) | training s | evaluation s "
        "| training / evaluation | probe peak RSS MB | build peak RSS MB |"
    )
    print("| ---: " * 8 + "|")
    for seed, _, build, probe, rows in results:
        train = sum(r["train_seconds"] or 0 for r in rows)
        evaluation = sum(r["eval_seconds"] or 0 for r in rows)
        built = "n/a" if build is None else f"{build['wall_s']:.0f} ({build['cpu_s']:.0f})"
        build_rss = "n/a" if build is None else f"{build['peak_rss_mb']:.0f}"
        print(
            f"| {seed} | {built} | {probe['wall_s']:.0f} ({probe['cpu_s']:.0f}) | {train:.0f} "
            f"| {evaluation:.0f} | {train / evaluation:.2f}x | {probe['peak_rss_mb']:.0f} "
            f"| {build_rss} |"
        )


def _fmt(value: float | None, form: str) -> str:
    return "n/a" if value is None else form.format(value)


if __name__ == "__main__":
    main()
