"""Style metrics of every generated row of a run, stored in `sample_metrics`.

Per row: the TF-IDF cosine of its thinking to the student-only thinking on the same prompt
(the paper's measure of style consistency), the student's NLL per token of its assistant
turn (`student_nll`), style phrases per 1k thinking tokens, the teacher's token share,
switches, and the lengths of thinking and answer in the student's tokens. `metrics_summary`
reads them back, aggregated per mode and version.

The student NLL costs forward passes, so a re-run keeps each row's stored NLL; the other
metrics are cheap and measured again over the run as it is then (the TF-IDF vectoriser is
fitted on all of the run's thinking, so a row measured earlier might otherwise read a
vectoriser fitted on fewer texts).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfTransformer

from tessy_factory.config import GenerationMode, MetricsConfig
from tessy_factory.curate.ngram_counts import ngram_counts
from tessy_factory.curate.student_nll import Student
from tessy_factory.db import sql
from tessy_factory.report import count_phrases
from tessy_factory.trace_format import THINK_CLOSE, THINK_OPEN, thinking_part

# Rows scored by the student between two writes: a crash loses at most this many scores.
ROWS_PER_WRITE = 256

# The stored columns, in order, after run_id.
COLUMNS = (
    "sample_id",
    "tfidf_to_student",
    "student_nll",
    "nll_skipped",
    "phrase_per_1k_tokens",
    "teacher_token_share",
    "n_switches",
    "thinking_tokens",
    "answer_tokens",
)


def split_trace(text: str) -> tuple[str, str]:
    """The thinking and the answer of `<think>\\n...\\n</think>\\n\\nanswer`."""
    thinking = thinking_part(text).removeprefix(THINK_OPEN).removesuffix("\n")
    return thinking, text.partition(THINK_CLOSE)[2].removeprefix("\n\n")


def tfidf_to_student(
    prompt_ids: Sequence[str],
    modes: Sequence[str],
    thinking: Sequence[str],
    ngram_range: tuple[int, int] = (1, 2),
) -> list[float | None]:
    """Per row, the mean cosine of its thinking's TF-IDF vector to those of the student-only
    samples of the same prompt (itself left out); None where there is none. The vectoriser
    (word n-grams of `ngram_range`) is fitted on all of `thinking`."""
    counts = ngram_counts(thinking, ngram_range)
    if not counts.nnz:  # no word in any text: nothing to compare
        return [None] * len(thinking)
    # TF-IDF rows of unit length (or zero): a cosine is a dot product.
    vectors = TfidfTransformer().fit_transform(counts)
    student_rows: dict[str, list[int]] = defaultdict(list)
    for row, (prompt_id, mode) in enumerate(zip(prompt_ids, modes, strict=True)):
        if mode == GenerationMode.STUDENT_ONLY:
            student_rows[prompt_id].append(row)
    # weights[row, other] = 1 / (the row's references): (weights @ vectors)[row] is the mean
    # of its references' vectors, and its dot product with the row's own is the mean cosine.
    rows, others, shares = [], [], []
    for row, prompt_id in enumerate(prompt_ids):
        references = [other for other in student_rows[prompt_id] if other != row]
        if references:
            rows += [row] * len(references)
            others += references
            shares += [1 / len(references)] * len(references)
    size = len(thinking)
    weights = sparse.csr_matrix((shares, (rows, others)), shape=(size, size))
    means = np.asarray(vectors.multiply(weights @ vectors).sum(axis=1)).ravel()
    referenced = np.diff(weights.indptr) > 0
    return [float(m) if r else None for m, r in zip(means, referenced, strict=True)]


def phrase_rate(thinking: str, phrases: Sequence[str], tokens: int) -> float | None:
    """Style phrases in `thinking` per 1000 of its `tokens`; None for no tokens."""
    return count_phrases(thinking, phrases) * 1000 / tokens if tokens else None


def measure(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    settings: MetricsConfig,
    phrases: Sequence[str],
    student: Student,
) -> int:
    """Measure every generated row of `run_id` into `sample_metrics`; returns how many rows
    the student scored now (rows scored before keep their NLL)."""
    rows = con.execute(sql("metrics_rows"), {"run_id": run_id}).df()
    if rows.empty:
        return 0
    metrics = _cheap_metrics(rows, settings, phrases, student)
    measured = rows["measured"].to_numpy()
    _store(con, run_id, metrics[measured])
    todo = metrics[~measured]
    prompts = rows.loc[~measured, "prompt"].tolist()
    for first in range(0, len(todo), ROWS_PER_WRITE):
        chunk = todo.iloc[first : first + ROWS_PER_WRITE].copy()
        pairs = list(zip(prompts[first : first + ROWS_PER_WRITE], chunk["text"], strict=True))
        scores = student.score(pairs, settings.batch_size)
        chunk["student_nll"] = [score.nll for score in scores]
        chunk["nll_skipped"] = [score.skipped for score in scores]
        _store(con, run_id, chunk)
    return len(todo)


def _cheap_metrics(
    rows: pd.DataFrame, settings: MetricsConfig, phrases: Sequence[str], student: Student
) -> pd.DataFrame:
    """Every metric but a new NLL, one row per generated row (stored NLLs carried over)."""
    parts = rows["text"].map(split_trace)
    thinking = [part[0] for part in parts]
    thinking_tokens = student.token_counts(thinking)
    teacher = rows["teacher_tokens"].fillna(0)
    written = teacher + rows["student_tokens"].fillna(0)
    return pd.DataFrame(
        {
            "sample_id": rows["sample_id"],
            "text": rows["text"],
            "tfidf_to_student": tfidf_to_student(
                rows["prompt_id"].tolist(),
                rows["mode"].tolist(),
                thinking,
                settings.tfidf_ngram_range,
            ),
            "student_nll": rows["student_nll"],
            "nll_skipped": rows["nll_skipped"],
            "phrase_per_1k_tokens": [
                phrase_rate(text, phrases, n)
                for text, n in zip(thinking, thinking_tokens, strict=True)
            ],
            "teacher_token_share": (teacher / written).where(written > 0),
            "n_switches": rows["n_switches"],
            "thinking_tokens": thinking_tokens,
            "answer_tokens": student.token_counts([part[1] for part in parts]),
        }
    )


def _store(con: duckdb.DuckDBPyConnection, run_id: str, metrics: pd.DataFrame) -> None:
    if metrics.empty:
        return
    con.register("measured_rows", metrics[list(COLUMNS)])
    try:
        con.execute(sql("sample_metrics_upsert"), {"run_id": run_id})
    finally:
        con.unregister("measured_rows")
