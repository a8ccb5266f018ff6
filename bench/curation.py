"""The curation stage on a real factory database of synthetic rows, as a build runs it.

A child process writes a factory database (`sql/schema.sql`, Arrow batches into the real
tables) holding one run of `rows` generated rows: prompts of 30-80 words, each sampled in
three modes (tessy, teacher-only, student-only, two samples each, so every student-only row
has a student-only reference for the TF-IDF metric), a thinking of 200-400 words drawn from
a Zipf vocabulary (HumanEval's words, then random ones) with style phrases, and a short
Python answer. Planted: failed generations, rejected and unverified rows, excluded prompts,
exact duplicates (the same text up to whitespace), near-duplicates (a thinking with
a few words changed) and contaminated rows: prompts and solutions copied from HumanEval and
prompts copied from a local evaluation file.

Then, on a copy of that database per repeat, the stage runs step by step as the build's
tasks run it (`tasks/curation.py`, `tasks/metrics.py`): exact dedup, decontamination against
HumanEval and the local file, near-duplicate dedup of responses, the quality gate, and the
style metrics with the student NLL off (the student's tokenizer: the miniature student's,
from the factory home's models). Each step's wall and CPU time are the medians over the
repeats; the peak RSS is the process's (the database is written in the child).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import resource
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa

from tessy_factory.config import BuildConfig
from tessy_factory.curate.decontam import load_eval_sets
from tessy_factory.curate.dedup import curate, reason_counts
from tessy_factory.curate.gates import check_gates
from tessy_factory.curate.ledger import drop_contaminated, drop_near_duplicates
from tessy_factory.curate.metrics import measure
from tessy_factory.curate.metrics_summary import published_metrics
from tessy_factory.curate.quality import check_quality
from tessy_factory.curate.rows import published_rows
from tessy_factory.curate.student_nll import Student
from tessy_factory.db import connect, registered
from tessy_factory.home import FactoryHome
from tessy_factory.sources.humaneval import humaneval_problems

RUN_ID = "bench-curation"
MODES = ("tessy", "teacher-only", "student-only")
SAMPLES_PER_MODE = 2
VOCABULARY = 20_000
# Shares of the rows (or prompts) planted with each fault.
FAILED = 0.02
REJECTED = 0.15
UNVERIFIED = 0.01
EXCLUDED_PROMPTS = 0.01
EXACT_DUPLICATES = 0.02
NEAR_DUPLICATES = 0.03
# Words of a near-duplicate's thinking replaced (Jaccard of 5-shingles about 0.9).
NEAR_CHANGED = 0.01
HUMANEVAL_PROMPTS = 20
HUMANEVAL_SOLUTIONS = 20
LOCAL_ITEMS = 50
LOCAL_PROMPTS = 10
ZIPF = np.cumsum(1.0 / np.arange(1, VOCABULARY + 1))
PHRASES = ("Hmm", "Wait", "Let me check", "Okay", "So", "Actually")
STEPS = (
    "exact dedup",
    "read eval sets",
    "decontamination",
    "near-dup dedup",
    "quality gate",
    "load tokenizer",
    "metrics + gates",
)


@dataclass
class Timing:
    wall: float
    cpu: float


def run(rows: int, repeats: int, seed: int = 0) -> dict:
    """Write the database in a child process, then time the stage on a copy per repeat."""
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tessy-curation-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        child = multiprocessing.get_context("fork").Process(target=write, args=(root, rows, seed))
        child.start()
        child.join()
        if child.exitcode:
            raise RuntimeError(f"writing the bench database failed (exit {child.exitcode})")
        written = time.perf_counter() - start
        config = _config(root)
        rss_before = _rss_mb()
        runs = []
        for repeat in range(repeats):
            home = root / f"home-{repeat}"
            home.mkdir()
            shutil.copy(root / "factory.duckdb", home / "factory.duckdb")
            runs.append(stage(home / "factory.duckdb", config, root))
            shutil.rmtree(home)
    steps = {
        step: Timing(
            statistics.median(r[0][step].wall for r in runs),
            statistics.median(r[0][step].cpu for r in runs),
        )
        for step in STEPS
    }
    return {
        "rows": rows,
        "repeats": repeats,
        "written_s": written,
        "steps": steps,
        "totals": [
            Timing(sum(t.wall for t in r[0].values()), sum(t.cpu for t in r[0].values()))
            for r in runs
        ],
        "counts": runs[-1][1],
        "rss_before_mb": rss_before,
        "rss_peak_mb": _max_rss_mb(),
        "load": (load_before, os.getloadavg()[0]),
    }


def stage(database: Path, config: BuildConfig, base_dir: Path) -> tuple[dict[str, Timing], dict]:
    """The curation stage, step by step as `curate_run` then `measure_run` run it."""
    curation = config.curation
    timings: dict[str, Timing] = {}
    timed = _timer(timings)
    models = _models_root()
    with connect(database) as con:
        with timed("exact dedup"):
            curate(con, RUN_ID, curation.require_accepted, curation.include_unchecked_prompts)
        with timed("read eval sets"):
            items = load_eval_sets(curation.decontamination, base_dir)
        with timed("decontamination"):
            contaminated = drop_contaminated(
                con, RUN_ID, items, curation.decontamination, config.verification.language
            )
        with timed("near-dup dedup"):
            near = drop_near_duplicates(
                con, RUN_ID, curation.near_dup, config.publish.repo_id, list(MODES)
            )
        with timed("quality gate"):
            counts = reason_counts(con, RUN_ID)
            quality = check_quality(
                published_rows(con, RUN_ID),
                curation.max_total_tokens,
                curation.min_rows_to_publish,
            )
    with timed("load tokenizer"):
        student = Student.load(config.student, models, curation.metrics.student_nll)
    with connect(database) as con, timed("metrics + gates"):
        phrases = curation.metrics.phrases or config.report.style_phrases
        measure(con, RUN_ID, curation.metrics, phrases, student)
        gated = check_gates(published_metrics(con, RUN_ID, curation.gates.mode), curation.gates)
    summary = {
        **counts,
        "contaminated_or_flagged": contaminated,
        **near,
        "quality_gate": quality.success and gated.success,
    }
    return timings, summary


def write(root: Path, rows: int, seed: int) -> None:
    """The local evaluation file and the factory database of one run of `rows` rows."""
    rng = np.random.default_rng(seed)
    vocabulary = _vocabulary(rng)
    local = [" ".join(_words(rng, vocabulary, 40)) for _ in range(LOCAL_ITEMS)]
    with (root / "local-eval.jsonl").open("w") as out:
        for number, prompt in enumerate(local):
            out.write(json.dumps({"id": f"local-{number}", "prompt": prompt}) + "\n")
    prompts = _prompts(rng, vocabulary, rows, local)
    generations, verdicts = _generations(rng, vocabulary, prompts)
    config = _config(root)
    with connect(root / "factory.duckdb") as con:
        con.execute(
            "INSERT INTO runs (run_id, name, config, config_hash, status, started_at) "
            "VALUES (?, 'bench', ?, ?, 'running', now())",
            [RUN_ID, config.model_dump_json(), config.fingerprint()],
        )
        checks = pa.table(
            {
                "run_id": pa.array([RUN_ID] * prompts.num_rows),
                "prompt_id": prompts["prompt_id"],
                "status": pa.array(
                    np.where(rng.random(prompts.num_rows) < EXCLUDED_PROMPTS, "excluded", "ok")
                ),
            }
        )
        tables = {"b_prompts": prompts, "b_gen": generations, "b_verdicts": verdicts}
        with registered(con, **tables, b_checks=checks):
            con.execute("INSERT INTO prompts BY NAME SELECT * FROM b_prompts")
            con.execute("INSERT INTO prompt_checks BY NAME SELECT * FROM b_checks")
            con.execute("INSERT INTO generations BY NAME SELECT * FROM b_gen")
            con.execute("INSERT INTO verdicts BY NAME SELECT * FROM b_verdicts")


def print_table(results: dict) -> None:
    print(f"{'step':>16} {'wall s':>8} {'cpu s':>8}")
    for step, t in results["steps"].items():
        print(f"{step:>16} {t.wall:8.2f} {t.cpu:8.2f}")
    wall = statistics.median(t.wall for t in results["totals"])
    cpu = statistics.median(t.cpu for t in results["totals"])
    print(f"{'total':>16} {wall:8.2f} {cpu:8.2f}")
    print(
        f"\n{results['rows']:,} rows: {results['rows'] / wall:,.0f} rows/s "
        f"(medians of {results['repeats']}; database written in {results['written_s']:.0f} s). "
        f"Outcome: {results['counts']}"
    )
    print(
        f"Peak RSS {results['rss_peak_mb']:,.0f} MB ({results['rss_before_mb']:,.0f} MB before "
        f"the stage); load average {results['load'][0]:.1f} before, {results['load'][1]:.1f} "
        f"after, on {os.cpu_count()} cores."
    )


def _config(root: Path) -> BuildConfig:
    return BuildConfig.model_validate(
        {
            "home": str(root / "home"),
            "student": {"model": "miniature:student"},
            "generation": {"modes": list(MODES)},
            "curation": {
                "min_rows_to_publish": 0,
                "metrics": {"student_nll": False},
                "decontamination": {
                    "eval_files": [{"name": "local", "kind": "jsonl", "path": "local-eval.jsonl"}]
                },
            },
        }
    )


def _prompts(
    rng: np.random.Generator, vocabulary: list[str], rows: int, local: list[str]
) -> pa.Table:
    """Enough prompts for `rows` rows; the first are copied from HumanEval and the local set."""
    count = -(-rows // (len(MODES) * SAMPLES_PER_MODE))
    problems = humaneval_problems()
    texts = [p["prompt"] for p in problems[:HUMANEVAL_PROMPTS]]
    texts += [f"Solve this: {text}" for text in local[:LOCAL_PROMPTS]]
    while len(texts) < count:
        words = _words(rng, vocabulary, int(rng.integers(30, 81)))
        texts.append("Write a Python function that " + " ".join(words) + ".")
    texts = texts[:count]
    return pa.table(
        {
            "run_id": pa.array([RUN_ID] * count),
            "prompt_id": pa.array([_hash(text) for text in texts]),
            "text": pa.array(texts),
            "tests": pa.array(['{"style": "assert", "code": "assert True"}'] * count),
            "source": pa.array(["bench"] * count),
            "source_row": pa.array(np.arange(count, dtype=np.int64)),
            "license": pa.array(["mit"] * count),
        }
    )


def _generations(
    rng: np.random.Generator, vocabulary: list[str], prompts: pa.Table
) -> tuple[pa.Table, pa.Table]:
    """Every prompt in every mode, SAMPLES_PER_MODE times, with the planted faults."""
    prompt_ids = prompts["prompt_id"].to_pylist()
    slots = [
        (prompt, mode, index)
        for prompt in range(len(prompt_ids))
        for mode in MODES
        for index in range(SAMPLES_PER_MODE)
    ]
    count = len(slots)
    thinking = [_thinking(rng, vocabulary) for _ in range(count)]
    answers = [_answer(rng, vocabulary) for _ in range(count)]
    # Solutions copied from HumanEval into random rows.
    problems = humaneval_problems()
    rows = rng.choice(count, HUMANEVAL_SOLUTIONS, replace=False)
    for problem, row in zip(problems[:HUMANEVAL_SOLUTIONS], rows, strict=True):
        answers[row] = f"```python\n{problem['prompt']}{problem['canonical_solution']}```"
    texts = [f"<think>\n{t}\n</think>\n\n{a}" for t, a in zip(thinking, answers, strict=True)]
    # Exact duplicates: the other sample of the same prompt and mode, its spaces changed.
    for row in np.flatnonzero(rng.random(count) < EXACT_DUPLICATES):
        texts[row] = texts[row ^ 1].replace(" ", "\n ", 20)
    # Near-duplicates: a random earlier row's thinking with a few words replaced.
    for row in np.flatnonzero(rng.random(count) < NEAR_DUPLICATES):
        words = thinking[int(rng.integers(count))].split(" ")
        for position in rng.choice(len(words), max(1, int(len(words) * NEAR_CHANGED))):
            words[position] = vocabulary[int(rng.integers(len(vocabulary)))]
        texts[row] = f"<think>\n{' '.join(words)}\n</think>\n\n{answers[row]}"
    failed = rng.random(count) < FAILED
    modes = [mode for _, mode, _ in slots]
    teacher = rng.integers(200, 600, count)
    student = rng.integers(50, 300, count)
    teacher[np.array(modes) == "student-only"] = 0
    student[np.array(modes) == "teacher-only"] = 0
    sample_ids = [_hash(f"{prompt_ids[p]}:{mode}:{i}") for p, mode, i in slots]
    generations = pa.table(
        {
            "run_id": pa.array([RUN_ID] * count),
            "sample_id": pa.array(sample_ids),
            "prompt_id": pa.array([prompt_ids[p] for p, _, _ in slots]),
            "mode": pa.array(modes),
            "sample_index": pa.array([i for _, _, i in slots], pa.int32()),
            "status": pa.array(np.where(failed, "failed", "ok")),
            "error": pa.array([("timeout" if f else None) for f in failed], pa.string()),
            "text": pa.array([None if f else t for f, t in zip(failed, texts, strict=True)]),
            "teacher_tokens": pa.array(teacher.astype(np.int32)),
            "student_tokens": pa.array(student.astype(np.int32)),
            "n_switches": pa.array(rng.integers(0, 12, count).astype(np.int32)),
        }
    )
    judged = ~failed & (rng.random(count) >= UNVERIFIED)
    rejected = rng.random(count) < REJECTED
    verdicts = pa.table(
        {
            "run_id": pa.array([RUN_ID] * int(judged.sum())),
            "sample_id": pa.array([s for s, j in zip(sample_ids, judged, strict=True) if j]),
            "verdict": pa.array(np.where(rejected, "wrong_answer", "accepted")[judged]),
            "tests_passed": pa.array(np.where(rejected, 0, 3)[judged].astype(np.int32)),
            "tests_total": pa.array(np.full(int(judged.sum()), 3, np.int32)),
        }
    )
    return generations, verdicts


def _thinking(rng: np.random.Generator, vocabulary: list[str]) -> str:
    words = _words(rng, vocabulary, int(rng.integers(200, 401)))
    for position in rng.choice(len(words), 4, replace=False):
        words[position] = f"{PHRASES[position % len(PHRASES)]}, {words[position]}"
    return " ".join(words)


def _answer(rng: np.random.Generator, vocabulary: list[str]) -> str:
    name, *args = _words(rng, vocabulary, 3)
    body = "\n".join(
        f"    {word} = {args[0]} + {int(number)}"
        for word, number in zip(_words(rng, vocabulary, 4), rng.integers(0, 100, 4), strict=True)
    )
    code = f"def {name}({', '.join(args)}):\n{body}\n    return {args[1]}"
    return f"Here it is.\n\n```python\n{code}\n```"


def _words(rng: np.random.Generator, vocabulary: list[str], count: int) -> list[str]:
    # Zipf-distributed: the word of rank r is drawn with weight 1 / r.
    ranks = np.searchsorted(ZIPF, rng.random(count) * ZIPF[-1])
    return [vocabulary[r] for r in ranks.tolist()]


def _vocabulary(rng: np.random.Generator) -> list[str]:
    """VOCABULARY words, most frequent first: HumanEval's words by their frequency there
    (real English and code words, which the tokenizer merges as it would in real text),
    then random words for the long tail."""
    texts = [p["prompt"] + p["canonical_solution"] for p in humaneval_problems()]
    counts = Counter(word for text in texts for word in re.findall(r"[a-z]+", text.lower()))
    words = [word for word, _ in counts.most_common()][:VOCABULARY]
    known = set(words)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    while len(words) < VOCABULARY:
        word = "".join(rng.choice(letters, int(rng.integers(3, 10))))
        if word not in known:
            known.add(word)
            words.append(word)
    return words


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _models_root() -> Path:
    # The miniature models, built once into the factory home if missing.
    return FactoryHome.resolve(None).models


def _timer(timings: dict[str, Timing]) -> Callable[[str], AbstractContextManager[None]]:
    """A context manager that records its block's wall and CPU time as `timings[step]`."""

    @contextmanager
    def timed(step: str) -> Iterator[None]:
        start, cpu = time.perf_counter(), time.process_time()
        yield
        timings[step] = Timing(time.perf_counter() - start, time.process_time() - cpu)

    return timed


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
