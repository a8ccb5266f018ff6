"""Judging throughput: all 164 HumanEval reference solutions judged in the sandbox against bare
`python3 -I` subprocesses without any isolation, same worker count, runs alternating.

The bare baseline runs the same programs the judge runs (its trusted assert checker, which
forks the solution's process, and the solution) from a temporary directory with
`subprocess.run`, the least a harness can do."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tessy_factory.config import VerificationConfig
from tessy_factory.sources.humaneval import humaneval_fields, humaneval_problems
from tessy_factory.verify.judge import Judge, Verdict
from tessy_factory.verify.languages import ASSERT_CHECKER, checker_request, checker_verdict
from tessy_factory.verify.sandbox import SANDBOX_PATH

MARKER = "bench check passed"


def run(sandboxes: list[str], repeats: int, workers: int) -> dict[str, list[tuple[float, int]]]:
    """Per schedule, (seconds, accepted) of each repeat."""
    problems = [humaneval_fields(problem) for problem in humaneval_problems()]
    workers = workers or os.cpu_count() or 1
    python = shutil.which("python3", path=SANDBOX_PATH)
    judges = {name: Judge.from_config(VerificationConfig(sandbox=name)) for name in sandboxes}
    schedules = {"bare": lambda: _bare(python, problems, workers)}
    for name, judge in judges.items():
        schedules[name] = lambda judge=judge: _sandboxed(judge, problems, workers)
    results: dict[str, list[tuple[float, int]]] = {name: [] for name in schedules}
    for _ in range(repeats):
        for name, schedule in schedules.items():
            started = time.perf_counter()
            accepted = schedule()
            results[name].append((time.perf_counter() - started, accepted))
    return results


def print_table(results: dict[str, list[tuple[float, int]]]) -> None:
    bare = statistics.median(seconds for seconds, _ in results["bare"])
    print(f"{'runner':>11} {'seconds':>8} {'accepted':>9} {'programs/s':>11} {'vs bare':>8}")
    for name, runs in results.items():
        seconds = statistics.median(s for s, _ in runs)
        accepted = min(a for _, a in runs)
        print(
            f"{name:>11} {seconds:8.2f} {accepted:>5}/164 {164 / seconds:11.1f} "
            f"{bare / seconds:7.2f}x"
        )


def _sandboxed(judge: Judge, problems: list[dict], workers: int) -> int:
    def one(fields: dict) -> bool:
        judged = judge.judge_program(fields["reference"], fields["tests"])
        return judged.verdict is Verdict.ACCEPTED

    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(one, problems))


def _bare(python: str, problems: list[dict], workers: int) -> int:
    def one(fields: dict) -> bool:
        tests = fields["tests"]
        with tempfile.TemporaryDirectory() as scratch:
            Path(scratch, "solution.py").write_text(fields["reference"])
            Path(scratch, "main.py").write_bytes(ASSERT_CHECKER)
            done = subprocess.run(
                [python, "-I", "main.py"],
                input=checker_request(
                    MARKER, tests["entry_point"], tests["code"], tests.get("prelude", "")
                ),
                capture_output=True,
                timeout=10,
                cwd=scratch,
            )
        said = checker_verdict(done.stdout, MARKER)
        return done.returncode == 0 and said is not None and said[0] == "accepted"

    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(one, problems))
