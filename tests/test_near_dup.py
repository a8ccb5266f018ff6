"""Near-duplicate dedup (MinHash LSH) on a real DuckDB file: planted near-duplicates found,
distinct texts kept, the caller's keep rule, incremental checks across published versions,
no re-hashing on a re-run, and config errors that name the field."""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from tessy_factory.config import describe_errors
from tessy_factory.curate.near_dup import (
    Corpus,
    Tokenizer,
    find_near_duplicates,
    index_rows,
    indexed_versions,
    publish_signatures,
    shingles,
)
from tessy_factory.curate.near_dup.clusters import drop_for
from tessy_factory.curate.near_dup_config import NearDupConfig, NearDupText

REPO = "org/data"
VOCABULARY = [f"w{i}" for i in range(3000)]


def document(rng: random.Random, words: int = 120) -> str:
    return " ".join(rng.choice(VOCABULARY) for _ in range(words))


def edited(text: str, rng: random.Random, replaced: int) -> str:
    """`text` with `replaced` of its words, at distinct random positions, swapped for others."""
    words = text.split()
    for position in rng.sample(range(len(words)), replaced):
        words[position] = "x" + rng.choice(VOCABULARY)
    return " ".join(words)


def frame(texts: dict[str, str], **keys: list) -> pd.DataFrame:
    return pd.DataFrame({"id": list(texts), "text": list(texts.values()), **keys})


@pytest.fixture
def con(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "factory.duckdb")) as connection:
        yield connection


@pytest.fixture
def corpus() -> Corpus:
    return Corpus(REPO, "response", NearDupText())


def test_planted_near_duplicates_are_found_and_distinct_texts_are_not(con, corpus) -> None:
    rng = random.Random(1)
    texts = {f"d{i:02d}": document(rng) for i in range(30)}
    # One word in 120 replaced: Jaccard of the 5-shingles about 0.92. Forty: about 0.1.
    texts["near-d03"] = edited(texts["d03"], rng, 1)
    texts["near-d07"] = edited(texts["d07"], rng, 1)
    texts["far-d11"] = edited(texts["d11"], rng, 40)
    texts["short"] = "too short"  # fewer words than a shingle: never compared
    texts["short-too"] = "too short"

    result = find_near_duplicates(con, corpus, "run-1", frame(texts), keep_by=[])

    dropped = {drop.row_id: drop for drop in result.drops}
    assert sorted(dropped) == ["near-d03", "near-d07"]
    assert dropped["near-d03"].matched_id == "d03"
    assert dropped["near-d07"].matched_id == "d07"
    for drop in dropped.values():
        assert drop.reason == "near-duplicate"
        assert drop.field == "response"
        assert (drop.matched_run, drop.matched_version) == ("run-1", None)
        assert 0.8 <= drop.similarity < 1.0


def test_a_cluster_keeps_the_row_the_callers_rule_prefers(con, corpus) -> None:
    rng = random.Random(2)
    base = document(rng)
    texts = {"a": base, "b": edited(base, rng, 1), "c": edited(base, rng, 1)}
    texts |= {f"other{i}": document(rng) for i in range(5)}
    rows = frame(
        texts,
        rejected=[True, False, False] + [False] * 5,  # a failed its tests
        mode_rank=[0, 2, 1] + [0] * 5,  # c's mode comes before b's
    )

    result = find_near_duplicates(con, corpus, "run-1", rows, keep_by=["rejected", "mode_rank"])

    assert sorted(drop.row_id for drop in result.drops) == ["a", "b"]
    matched = {drop.row_id: drop.matched_id for drop in result.drops}
    # Each dropped row names a direct match, and following matches ends at the kept row.
    for row in matched:
        while row in matched:
            row = matched[row]
        assert row == "c"

    # The same rows under the opposite rule keep the other end.
    reverse = rows.assign(mode_rank=-rows["mode_rank"])
    again = find_near_duplicates(con, corpus, "run-2", reverse, keep_by=["mode_rank"])
    assert sorted(drop.row_id for drop in again.drops) == ["a", "c"]


def test_each_dropped_row_names_a_direct_match_on_the_way_to_the_kept_row() -> None:
    # A chain: a ~ b ~ c, a and c too far apart; and d matches a and the published p, which
    # the cluster keeps however late it comes in the order.
    pairs = [("a", "b", 0.9), ("b", "c", 0.85), ("d", "p", 0.82), ("d", "a", 0.95)]
    order = {"a": (0,), "b": (1,), "c": (2,), "d": (3,), "p": (4,)}

    assert drop_for(pairs, order, fixed={"p"}) == {
        "a": ("d", 0.95),
        "b": ("a", 0.9),
        "c": ("b", 0.85),
        "d": ("p", 0.82),
    }
    # Without the published row, the cluster keeps a, first in the order.
    assert drop_for(pairs[:2], order, fixed=set()) == {"b": ("a", 0.9), "c": ("b", 0.85)}


def test_a_later_build_is_checked_against_every_published_version(con, corpus) -> None:
    rng = random.Random(3)
    first = {f"v1-{i}": document(rng) for i in range(10)}
    second = {f"v2-{i}": document(rng) for i in range(10)}
    third = {
        "copies-v1": edited(first["v1-4"], rng, 1),
        "copies-v2": edited(second["v2-6"], rng, 1),
        "new": document(rng),
    }
    third["new-copy"] = edited(third["new"], rng, 1)
    for run_id, version, texts in (("run-1", "v1", first), ("run-2", "v2", second)):
        result = find_near_duplicates(con, corpus, run_id, frame(texts), keep_by=[])
        assert result.drops == []
        publish_signatures(con, REPO, run_id, version, list(texts))
    assert indexed_versions(con, corpus) == ["v1", "v2"]

    result = find_near_duplicates(con, corpus, "run-3", frame(third), keep_by=[])

    matches = {d.row_id: (d.matched_id, d.matched_run, d.matched_version) for d in result.drops}
    assert matches == {
        "copies-v1": ("v1-4", "run-1", "v1"),
        "copies-v2": ("v2-6", "run-2", "v2"),
        "new-copy": ("new", "run-3", None),
    }
    # Another dataset's corpus, or other settings, hold none of these versions.
    assert indexed_versions(con, Corpus("org/other", "response", NearDupText())) == []
    assert indexed_versions(con, Corpus(REPO, "response", NearDupText(seed=2))) == []


def test_publishing_forgets_the_rows_a_run_did_not_publish(con, corpus) -> None:
    rng = random.Random(4)
    texts = {"kept": document(rng), "gated": document(rng)}
    find_near_duplicates(con, corpus, "run-1", frame(texts), keep_by=[])
    publish_signatures(con, REPO, "run-1", "v1", ["kept"])

    assert con.execute("SELECT row_id, version FROM near_dup_rows").fetchall() == [("kept", "v1")]
    assert con.execute("SELECT count(*) FROM near_dup_bands").fetchall() == [
        (corpus.settings.bands,)
    ]
    later = {
        "like-kept": edited(texts["kept"], rng, 1),
        "like-gated": edited(texts["gated"], rng, 1),
    }
    result = find_near_duplicates(con, corpus, "run-2", frame(later), keep_by=[])

    assert [(d.row_id, d.matched_id) for d in result.drops] == [("like-kept", "kept")]


def test_a_rerun_hashes_nothing_again(con, corpus) -> None:
    rng = random.Random(5)
    texts = {f"d{i}": document(rng) for i in range(12)}
    texts["near"] = edited(texts["d0"], rng, 1)

    first = find_near_duplicates(con, corpus, "run-1", frame(texts), keep_by=[])
    again = find_near_duplicates(con, corpus, "run-1", frame(texts), keep_by=[])
    texts["late"] = edited(texts["d5"], rng, 1)  # a resumed run generated one more
    resumed = find_near_duplicates(con, corpus, "run-1", frame(texts), keep_by=[])

    assert (first.hashed, again.hashed, resumed.hashed) == (13, 0, 1)
    assert again.drops == first.drops
    assert sorted(d.row_id for d in resumed.drops) == ["late", "near"]
    stored = con.execute("SELECT count(*), count(DISTINCT row_id) FROM near_dup_rows").fetchall()
    assert stored == [(14, 14)]
    # Rows of another run are that run's own: hashed once more, under its id.
    assert index_rows(con, corpus, "run-2", frame(texts)) == 14


def test_token_shingles_use_the_given_tokenizer(con) -> None:
    settings = NearDupText(shingle="tokens", shingle_size=8)
    with pytest.raises(ValueError, match=r"near_dup\.prompt\.shingle is tokens"):
        Corpus(REPO, "prompt", settings)
    # Characters as tokens: a real, if small, tokenizer.
    tokenizer = Tokenizer("chars", lambda texts: [[ord(c) for c in text] for text in texts])
    corpus = Corpus(REPO, "prompt", settings, tokenizer)
    rng = random.Random(6)
    texts = {"a": document(rng), "b": document(rng)}
    texts["a-again"] = texts["a"].replace("w", "W", 1)

    result = find_near_duplicates(con, corpus, "run-1", frame(texts), keep_by=[])

    assert [(d.row_id, d.matched_id, d.field) for d in result.drops] == [("a-again", "a", "prompt")]
    assert "tokens[chars]x8" in corpus.sketch


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (pd.DataFrame({"id": ["a"]}), "missing column(s) text, rank"),
        (pd.DataFrame({"id": ["a", "a"], "text": ["x", "y"], "rank": [1, 2]}), "id 'a' appears"),
        (
            pd.DataFrame({"id": ["a", "b"], "text": ["x", None], "rank": [1, 2]}),
            "id 'b' has no text",
        ),
    ],
)
def test_bad_rows_are_refused_by_name(con, corpus, rows, message) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        find_near_duplicates(con, corpus, "run-1", rows, keep_by=["rank"])


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"response": {"bands": 10}},
            "response: Value error, bands (10) x rows (8) = 80 must equal num_perm (128)",
        ),
        ({"prompt": {"threshold": 1.5}}, "prompt.threshold: Input should be less than or equal"),
        ({"prompt": {"shingle": "chars"}}, "prompt.shingle: Input should be 'words' or 'tokens'"),
        ({"response": {"shingles": 3}}, "response.shingles: Extra inputs are not permitted"),
    ],
)
def test_config_errors_name_the_field(section: dict, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        NearDupConfig.model_validate(section)
    assert message in describe_errors(error.value)


def test_config_defaults_check_the_response_only() -> None:
    config = NearDupConfig.model_validate({"prompt": {"enabled": True, "threshold": 0.9}})
    assert list(config.enabled()) == ["prompt", "response"]
    assert list(NearDupConfig().enabled()) == ["response"]


def test_words_ignore_case_and_punctuation_and_shingles_stay_inside_a_text() -> None:
    units, counts = shingles.word_hashes(["Hello, World!  café", "", "hello world CAFÉ x_1"])
    assert counts.tolist() == [3, 0, 4]
    assert units[:3].tolist() == units[3:6].tolist()

    hashes, per_text = shingles.shingle_hashes(units, counts, size=2)
    assert per_text.tolist() == [2, 0, 3]
    # The first text's shingles reappear in the third; none spans the two texts.
    assert hashes[:2].tolist() == hashes[2:4].tolist()
    assert len(set(hashes.tolist())) == 3
    spanning = shingles.shingle_hashes(np.array(units[2:4]), np.array([2]), size=2)[0]
    assert spanning[0] not in hashes
