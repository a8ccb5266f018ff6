"""Word n-gram counts of many texts at once, as scikit-learn's CountVectorizer counts them:
its lower-casing and token pattern, n-grams of consecutive tokens of one text. The TF-IDF
metric (`metrics.tfidf_to_student`) weighs them with scikit-learn's TfidfTransformer.

Why hand-written: CountVectorizer builds every n-gram as a Python string and counts it in a
Python dict, which took about 7.5 s of CPU for 6k thinking texts of 300 words with unigrams
and bigrams, two minutes at 100k rows (`bench/curation.py`). Here only the tokens are Python
strings, cut by CountVectorizer's own tokenizer; pandas numbers them, and an n-gram is a
pair of numbers (the n-1 gram's and its last token's), numbered and counted with numpy. The
matrix equals CountVectorizer's up to the order of its columns, which no cosine depends on
(tests/test_metrics.py compares the two).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer

# Texts tokenised at a time: bounds the Python strings held at once (a token is ~55 bytes).
CHUNK = 5_000


def ngram_counts(texts: Sequence[str], ngram_range: tuple[int, int]) -> sparse.csr_matrix:
    """One row per text, one column per distinct n-gram of `ngram_range` (min, max words)."""
    units, lengths = _token_ids(texts)
    text_of = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    low, high = ngram_range
    rows, columns, width = [], [], 0
    gram = units
    for n in range(1, min(high, len(units)) + 1):
        # Only n-grams inside one text count: those at the other positions are numbered -1.
        inside = text_of[: len(units) - n + 1] == text_of[n - 1 :]
        if n > 1:
            # The n-gram at i: the (n-1)-gram at i and the token at i + n - 1. Both numbers
            # are below the token count, so the pair's key fits in 64 bits; numbered where it
            # is inside a text only, so that every column has a count.
            keys = gram[:-1] * np.int64(len(units)) + units[n - 1 :]
            gram = np.full(len(keys), -1, dtype=np.int64)
            gram[inside] = pd.factorize(keys[inside])[0]
        if n < low:
            continue
        found = gram[inside]
        rows.append(text_of[: len(inside)][inside])
        columns.append(found + width)
        width += int(found.max(initial=-1)) + 1
    rows_all = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    values = np.ones(len(rows_all), dtype=np.int32)
    # COO to CSR sums the repeated (text, n-gram) entries into counts; it leaves the column
    # indices of a row unsorted, which no product needs (sorting them cost as much again).
    counts = sparse.coo_matrix(
        (values, (rows_all, np.concatenate(columns) if columns else rows_all)),
        shape=(len(texts), width),
    ).tocsr()
    return counts


def _token_ids(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every token of `texts` as a number (equal tokens, equal numbers), in order, and how
    many tokens each text has."""
    vectorizer = CountVectorizer()
    preprocess, tokenize = vectorizer.build_preprocessor(), vectorizer.build_tokenizer()
    vocabulary: dict[str, int] = {}
    ids, lengths = [], []
    for start in range(0, len(texts), CHUNK):
        tokens = [tokenize(preprocess(text)) for text in texts[start : start + CHUNK]]
        codes, uniques = pd.factorize(np.array(list(chain.from_iterable(tokens)), dtype=object))
        known = [vocabulary.setdefault(token, len(vocabulary)) for token in uniques]
        ids.append(np.array(known, dtype=np.int64)[codes])
        lengths += map(len, tokens)
    units = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    return units, np.array(lengths, dtype=np.int64)
