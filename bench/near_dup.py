"""Near-duplicate detection: ours (`tessy_factory.curate.near_dup`: rensa R-MinHash, the LSH
band join in DuckDB, clusters) against datasketch's MinHashLSH, the reference, in the same
run on the same texts: word 5-shingles, 128 permutations, 16 bands of 8 rows, and both
keep a candidate pair when its estimated Jaccard similarity reaches 0.8.

The corpus: documents of 200-400 words drawn from a Zipf-distributed vocabulary of 50k
random words, a fifth of them in planted clusters: a base document and 1-4 variants, each
with random words replaced until its exact Jaccard similarity to the base falls to the
cluster's level (0.5, 0.7, 0.85 or 0.95). Ground truth is the exact Jaccard of the word
5-shingle sets (Python sets, independent of either engine's hashing) of every pair inside a
cluster and of every pair an engine reports; a sample of random pairs shows that no pair
outside the clusters comes near the threshold.
"""

from __future__ import annotations

import os
import re
import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import rensa
from datasketch import MinHash, MinHashLSH

from tessy_factory.curate.near_dup import Corpus, find_near_duplicates, index_rows, shingles, store
from tessy_factory.curate.near_dup_config import NearDupText

LEVELS = (0.5, 0.7, 0.85, 0.95)
SETTINGS = NearDupText(shingle_size=5, num_perm=128, bands=16, rows=8, threshold=0.8)
PLANTED_SHARE = 0.2
VOCABULARY = 50_000
RANDOM_PAIRS = 20_000
# datasketch's shingle strings are built this many documents at a time (memory).
DATASKETCH_CHUNK = 10_000
# Documents the numpy MinHash runs on (it is slow; the ratio to rensa needs no more).
NUMPY_DOCS = 5_000
# Our word definition, as a regex (lower-cased text; see shingles.py), for datasketch.
WORD = re.compile(r"[0-9a-z_\x80-\U0010ffff]+")


@dataclass
class Planted:
    texts: list[str]
    words: list[np.ndarray]  # word ids of each text
    clusters: list[tuple[float, list[int]]]  # (level, documents: base first)


@dataclass
class Timing:
    wall: float = 0.0
    cpu: float = 0.0


@dataclass
class Engine:
    pairs: set[tuple[int, int]]
    steps: dict[str, Timing] = field(default_factory=dict)

    @property
    def total(self) -> Timing:
        return Timing(
            sum(t.wall for t in self.steps.values()), sum(t.cpu for t in self.steps.values())
        )


def run(docs: int, seed: int = 0) -> dict:
    """Generate the corpus, run both engines and the numpy MinHash, score them."""
    load_before = os.getloadavg()[0]
    planted = make_corpus(docs, seed)
    rss_before = _max_rss_mb()
    with tempfile.TemporaryDirectory(prefix="tessy-neardup-") as tmp:
        ours = run_ours(planted.texts, Path(tmp) / "bench.duckdb")
    rss_ours = _max_rss_mb()
    reference = run_datasketch(planted.texts)
    signatures = time_signatures(planted.texts[:NUMPY_DOCS])
    truth = planted_truth(planted)
    for engine in (ours, reference):
        for a, b in engine.pairs - truth.keys():
            truth[a, b] = _jaccard(_shingle_set(planted.words[a]), _shingle_set(planted.words[b]))
    return {
        "docs": docs,
        "words": sum(map(len, planted.words)),
        "ours": ours,
        "datasketch": reference,
        "truth": truth,
        "levels": level_pairs(planted),
        "random_max": random_pairs_max(planted, seed),
        "signatures": signatures,
        "rss_before_mb": rss_before,
        "rss_ours_mb": rss_ours,
        "load": (load_before, os.getloadavg()[0]),
    }


def make_corpus(docs: int, seed: int) -> Planted:
    """`docs` random documents, the first fifth of them rewritten into planted clusters."""
    rng = np.random.default_rng(seed)
    vocabulary = _vocabulary(rng)
    weights = 1.0 / np.arange(1, len(vocabulary) + 1)
    lengths = rng.integers(200, 401, docs)
    flat = rng.choice(len(vocabulary), int(lengths.sum()), p=weights / weights.sum())
    words = np.split(flat.astype(np.int32), np.cumsum(lengths)[:-1])
    clusters = []
    position = 0
    while position < PLANTED_SHARE * docs:
        size = int(rng.integers(2, 6))
        members = list(range(position, min(position + size, docs)))
        level = LEVELS[len(clusters) % len(LEVELS)]
        for member in members[1:]:
            words[member] = _variant(words[members[0]], level, len(vocabulary), rng)
        clusters.append((level, members))
        position += size
    texts = [" ".join(vocabulary[i] for i in ids.tolist()) for ids in words]
    return Planted(texts, words, clusters)


def planted_truth(planted: Planted) -> dict[tuple[int, int], float]:
    """Exact Jaccard of every pair inside a planted cluster."""
    truth = {}
    for _, members in planted.clusters:
        sets = {doc: _shingle_set(planted.words[doc]) for doc in members}
        for a, b in combinations(members, 2):
            truth[a, b] = _jaccard(sets[a], sets[b])
    return truth


def level_pairs(planted: Planted) -> dict[float, list[tuple[int, int]]]:
    """The base-variant pairs of each planted level."""
    pairs: dict[float, list[tuple[int, int]]] = {level: [] for level in LEVELS}
    for level, (base, *variants) in planted.clusters:
        pairs[level].extend((base, variant) for variant in variants)
    return pairs


def random_pairs_max(planted: Planted, seed: int) -> float:
    """The highest exact Jaccard among random pairs of documents not in one cluster."""
    cluster = {doc: i for i, (_, members) in enumerate(planted.clusters) for doc in members}
    rng = np.random.default_rng(seed + 1)
    pairs = rng.integers(0, len(planted.words), (RANDOM_PAIRS, 2)).tolist()
    words = planted.words
    return max(
        _jaccard(_shingle_set(words[a]), _shingle_set(words[b]))
        for a, b in pairs
        if a != b and (a not in cluster or cluster.get(a) != cluster.get(b))
    )


def run_ours(texts: list[str], database: Path) -> Engine:
    """Hash and index every text, then find the pairs and clusters (which hashes none)."""
    corpus = Corpus("bench/near-dup", "response", SETTINGS)
    rows = pd.DataFrame({"id": [f"{i:07d}" for i in range(len(texts))], "text": texts})
    engine = Engine(set())
    with duckdb.connect(str(database)) as con:
        with _timed(engine, "hash + store"):
            index_rows(con, corpus, "bench", rows)
        with _timed(engine, "band join + verify + clusters"):
            result = find_near_duplicates(con, corpus, "bench", rows, keep_by=[])
        assert result.hashed == 0, "the second call found rows to hash"
        found = store.pairs(con, corpus, "bench", rows["id"].tolist())
    engine.pairs = {
        (min(a, b), max(a, b))
        for a, b in zip(found["a_row_id"].astype(int), found["b_row_id"].astype(int), strict=True)
    }
    return engine


def run_datasketch(texts: list[str]) -> Engine:
    """datasketch as documented: shingle strings, MinHash.bulk (SHA-1), MinHashLSH with our
    bands and rows, each candidate verified by MinHash.jaccard."""
    engine = Engine(set())
    sketches: list[MinHash] = []
    # In chunks, so that the shingle strings of only one chunk are held at a time.
    for start in range(0, len(texts), DATASKETCH_CHUNK):
        with _timed(engine, "shingles"):
            shingled = [_shingle_strings(text) for text in texts[start : start + DATASKETCH_CHUNK]]
        with _timed(engine, "MinHash.bulk"):
            sketches += MinHash.bulk(shingled, num_perm=SETTINGS.num_perm, seed=SETTINGS.seed)
    with _timed(engine, "LSH + verify"):
        lsh = MinHashLSH(
            SETTINGS.threshold, SETTINGS.num_perm, params=(SETTINGS.bands, SETTINGS.rows)
        )
        with lsh.insertion_session() as session:
            for key, sketch in enumerate(sketches):
                session.insert(key, sketch)
        for a, sketch in enumerate(sketches):
            for b in lsh.query(sketch):
                if b > a and sketch.jaccard(sketches[b]) >= SETTINGS.threshold:
                    engine.pairs.add((a, b))
    return engine


def time_signatures(texts: list[str]) -> dict[str, Timing]:
    """Signatures of the same shingle hashes: rensa (ours) against a vectorised numpy MinHash."""
    units, counts = shingles.word_hashes(texts)
    hashes, per_text = shingles.shingle_hashes(units, counts, SETTINGS.shingle_size)
    offsets = np.concatenate(([0], np.cumsum(per_text))).astype(np.uint64)
    timings = {}
    for name, sign in (("rensa", _rensa_signatures), ("numpy", _numpy_signatures)):
        start, cpu = time.perf_counter(), time.process_time()
        sign(hashes, offsets)
        timings[name] = Timing(time.perf_counter() - start, time.process_time() - cpu)
    return timings


def print_table(results: dict) -> None:
    _print_speed(results)
    _print_quality(results)
    sig, signed = results["signatures"], min(NUMPY_DOCS, results["docs"])
    print(
        f"\nRandom pairs ({RANDOM_PAIRS}): highest exact Jaccard {results['random_max']:.3f}. "
        f"Signatures of {signed} docs: rensa {sig['rensa'].cpu:.3f} s CPU, numpy "
        f"{sig['numpy'].cpu:.3f} s CPU ({sig['numpy'].cpu / sig['rensa'].cpu:.0f}x)."
    )
    print(
        f"Peak RSS {results['rss_ours_mb']:,.0f} MB after ours "
        f"({results['rss_before_mb']:,.0f} MB before it, the corpus); "
        f"{results['words']:,} words; load average {results['load'][0]:.1f} before, "
        f"{results['load'][1]:.1f} after, on {os.cpu_count()} cores."
    )


def _print_speed(results: dict) -> None:
    ours, reference, docs = results["ours"], results["datasketch"], results["docs"]
    print(f"{'engine':>11} {'step':>31} {'wall s':>8} {'cpu s':>8}")
    for name, engine in (("ours", ours), ("datasketch", reference)):
        for step, t in [*engine.steps.items(), ("total", engine.total)]:
            print(f"{name:>11} {step:>31} {t.wall:8.2f} {t.cpu:8.2f}")
    sketch_lsh = sum(t.wall for s, t in reference.steps.items() if s != "shingles")
    print(
        f"\n{docs} docs: ours {docs / ours.total.wall:,.0f} docs/s, datasketch "
        f"{docs / reference.total.wall:,.0f} docs/s: "
        f"{reference.total.wall / ours.total.wall:.1f}x "
        f"({reference.total.cpu / ours.total.cpu:.1f}x in CPU time; "
        f"{sketch_lsh / ours.total.wall:.1f}x against datasketch without its shingling)"
    )


def _print_quality(results: dict) -> None:
    truth = results["truth"]
    engines = {"ours": results["ours"], "datasketch": results["datasketch"]}
    positives = {pair for pair, j in truth.items() if j >= SETTINGS.threshold}
    print(
        f"\n{'engine':>11} {'pairs':>7} {'recall':>7} {'precision':>9}  (exact Jaccard >= 0.8: "
        f"{len(positives)} pairs)"
    )
    for name, engine in engines.items():
        hits = len(engine.pairs & positives)
        precision = hits / len(engine.pairs) if engine.pairs else 1.0
        print(f"{name:>11} {len(engine.pairs):7d} {hits / len(positives):7.4f} {precision:9.4f}")
    print(f"\n{'level':>6} {'pairs':>6} {'exact J':>13} {'found: ours':>12} {'datasketch':>11}")
    for level, pairs in results["levels"].items():
        exact = [truth[pair] for pair in pairs]
        found = [sum(p in e.pairs for p in pairs) / len(pairs) for e in engines.values()]
        print(
            f"{level:6.2f} {len(pairs):6d} {min(exact):6.3f}-{max(exact):.3f} "
            f"{found[0]:12.4f} {found[1]:11.4f}"
        )


def _shingle_set(words: np.ndarray) -> set[tuple[int, ...]]:
    ids = words.tolist()
    return set(zip(*(ids[k:] for k in range(SETTINGS.shingle_size)), strict=False))


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


def _variant(
    base: np.ndarray, level: float, vocabulary: int, rng: np.random.Generator
) -> np.ndarray:
    """`base` with random words replaced until its exact Jaccard similarity to it is at most
    `level`: first as many as usually suffice, then one at a time."""
    target = _shingle_set(base)
    words = base.copy()
    positions = rng.permutation(len(words))
    # Each replaced word changes up to 5 shingles: J = (S - c) / (S + c).
    start = int(len(target) * (1 - level) / (1 + level) / SETTINGS.shingle_size * 0.8)
    for i, position in enumerate(positions):
        words[position] = int(rng.integers(vocabulary))
        if i >= start and _jaccard(_shingle_set(words), target) <= level:
            break
    return words


def _vocabulary(rng: np.random.Generator) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(letters, int(rng.integers(3, 11)))))
    return sorted(words)


def _shingle_strings(text: str) -> list[bytes]:
    words = WORD.findall(text.lower())
    size = SETTINGS.shingle_size
    return [" ".join(words[k : k + size]).encode() for k in range(len(words) - size + 1)]


def _rensa_signatures(hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
        hashes, offsets, SETTINGS.num_perm, SETTINGS.seed
    )
    return np.array(matrix.to_rows(), dtype=np.uint32)


def _numpy_signatures(hashes: np.ndarray, offsets: np.ndarray, chunk: int = 8) -> np.ndarray:
    """Classic MinHash in numpy: num_perm multiply-shift hashes of each shingle hash, the
    minimum per document; `chunk` permutations at a time to bound memory."""
    rng = np.random.default_rng(SETTINGS.seed)
    a = rng.integers(1, 2**63, SETTINGS.num_perm, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, SETTINGS.num_perm, dtype=np.uint64)
    starts = offsets[:-1].astype(np.int64)
    out = np.empty((len(starts), SETTINGS.num_perm), dtype=np.uint32)
    for first in range(0, SETTINGS.num_perm, chunk):
        span = slice(first, first + chunk)
        permuted = ((hashes[:, None] * a[span] + b[span]) >> np.uint64(32)).astype(np.uint32)
        out[:, span] = np.minimum.reduceat(permuted, starts, axis=0)
    return out


@contextmanager
def _timed(engine: Engine, step: str) -> Iterator[None]:
    """Add the wall and CPU time of the block to the engine's `step`."""
    start, cpu = time.perf_counter(), time.process_time()
    yield
    timing = engine.steps.setdefault(step, Timing())
    timing.wall += time.perf_counter() - start
    timing.cpu += time.process_time() - cpu


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
