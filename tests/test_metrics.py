"""Style metrics: known values on hand-made rows, the student NLL on the miniature student,
storage and re-runs in a real DuckDB, and the metric gates (with a ledger gate, in one build)."""

from __future__ import annotations

import json
import math
import statistics

import pytest
from config_file import config_file
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer

from flows.build import QualityGateFailed, build_dataset
from tasks.runs import open_run
from tessy_factory.config import BuildConfig, DemoSource, GatesConfig, MetricsConfig, ModelConfig
from tessy_factory.curate.dedup import curate
from tessy_factory.curate.gates import check_gates
from tessy_factory.curate.metrics import measure, phrase_rate, split_trace, tfidf_to_student
from tessy_factory.curate.metrics_summary import metrics_by_mode, published_metrics
from tessy_factory.curate.ngram_counts import ngram_counts
from tessy_factory.curate.student_nll import SERVED, Student
from tessy_factory.db import connect
from tessy_factory.home import FactoryHome
from tessy_factory.miniature.build import world_traces
from tessy_factory.miniature.styles import WORLDS
from tessy_factory.publish.local_hub import existing_versions
from tessy_factory.sources.readers import read_rows


def test_tfidf_is_one_for_identical_thinking_and_zero_for_disjoint_words():
    prompt_ids = ["a", "a", "a", "b"]
    modes = ["student-only", "tessy", "teacher-only", "tessy"]
    thinking = [
        "loop over the numbers and add them",
        "loop over the numbers and add them",
        "sum via builtin function call",
        "loop over the numbers",
    ]
    similarity = tfidf_to_student(prompt_ids, modes, thinking)
    # The student-only row has no other student-only sample of its prompt; prompt b has none.
    assert similarity[0] is None and similarity[3] is None
    assert similarity[1] == pytest.approx(1.0)
    assert similarity[2] == pytest.approx(0.0)


def test_tfidf_averages_over_the_prompts_student_samples():
    similarity = tfidf_to_student(
        ["a", "a", "a"], ["student-only", "student-only", "tessy"], ["x1 y1", "z1 w1", "x1 y1"]
    )
    assert similarity[2] == pytest.approx(0.5)
    assert similarity[0] == similarity[1] == pytest.approx(0.0)


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (2, 3)])
def test_ngram_tfidf_cosines_equal_scikit_learns_vectoriser(ngram_range):
    texts = [
        "Loop over the numbers, and ADD them: a+b; then return x_1.",
        "loop over the numbers and add them",
        "Café déjà vu — l’été: naïve words, a b c.",
        "",
        "return the numbers then loop over them over and over",
        "x",
    ]
    ours = TfidfTransformer().fit_transform(ngram_counts(texts, ngram_range))
    theirs = TfidfVectorizer(ngram_range=ngram_range).fit_transform(texts)
    assert ours.shape == theirs.shape
    assert ((ours @ ours.T) - (theirs @ theirs.T)).toarray() == pytest.approx(0, abs=1e-12)


def test_phrase_rate_and_trace_parts_of_a_known_text():
    thinking, answer = split_trace("<think>\nHmm, so. Hmm. Wait\n</think>\n\nprint(1)")
    assert (thinking, answer) == ("Hmm, so. Hmm. Wait", "print(1)")
    assert phrase_rate(thinking, ["Hmm", "Wait"], tokens=10) == 300.0
    assert phrase_rate("", ["Hmm"], tokens=0) is None


@pytest.fixture(scope="module")
def student(models_root) -> Student:
    return Student.load(ModelConfig(model="miniature:student"), models_root, with_nll=True)


def traces(role: str) -> list[tuple[str, str]]:
    return [(t.prompt, t.completion) for t in world_traces(role, WORLDS["demo"], 6, seed=77)]


def test_batched_nll_equals_each_row_alone(student):
    rows = traces("student") + traces("teacher")
    batched = [score.nll for score in student.score(rows, batch_size=5)]
    alone = [score.nll for score in student.score(rows, batch_size=1)]
    # Rows differ in length, so batches of 5 pad most of them.
    assert len({len(student.tokenizer(text)["input_ids"]) for _, text in rows}) > 1
    assert batched == pytest.approx(alone, rel=1e-4)
    assert all(math.isfinite(nll) and nll > 0 for nll in batched)


def test_the_students_own_style_reads_less_foreign_to_it(student):
    own = statistics.mean(score.nll for score in student.score(traces("student"), 4))
    teacher = statistics.mean(score.nll for score in student.score(traces("teacher"), 4))
    assert own < teacher


def test_a_served_student_gets_no_nll_with_the_reason(models_root):
    served = ModelConfig(
        model="miniature:student", backend="openai", base_url="http://127.0.0.1:9/v1"
    )
    scores = Student.load(served, models_root, with_nll=True).score([("p", "text")], 8)
    assert [(score.nll, score.skipped) for score in scores] == [(None, SERVED)]


def store_rows(home: FactoryHome, run_id: str) -> None:
    """One prompt, a student-only and a tessy sample, both kept."""
    config = BuildConfig.model_validate({"home": str(home.root)})
    open_run(run_id, config, home, sources={})
    texts = {
        "s1": "<think>\nHmm, add them\n</think>\n\nx",
        "s2": "<think>\nsum numbers\n</think>\n\ny",
    }
    with connect(home.database) as con:
        con.execute(
            "INSERT INTO prompts (run_id, prompt_id, text, tests, source, source_row, license) "
            "VALUES (?, 'p', 'Add two numbers.', '{}', 'demo', 0, 'MIT')",
            [run_id],
        )
        for sample_id, mode in (("s1", "student-only"), ("s2", "tessy")):
            con.execute(
                "INSERT INTO generations (run_id, sample_id, prompt_id, mode, sample_index, "
                "status, text, teacher_tokens, student_tokens, n_switches) "
                "VALUES (?, ?, 'p', ?, 0, 'ok', ?, 3, 1, 2)",
                [run_id, sample_id, mode, texts[sample_id]],
            )
            con.execute(
                "INSERT INTO verdicts (run_id, sample_id, verdict, tests_passed, tests_total) "
                "VALUES (?, ?, 'accepted', 1, 1)",
                [run_id, sample_id],
            )
        curate(con, run_id, require_accepted=True)


def test_a_rerun_keeps_stored_nlls_and_measures_the_rest_again(tmp_path, student, prefect_harness):
    home = FactoryHome.resolve(tmp_path / "home")
    store_rows(home, "m-1")
    settings = MetricsConfig(batch_size=2)
    with connect(home.database) as con:
        assert measure(con, "m-1", settings, ["Hmm"], student) == 2
        con.execute("UPDATE sample_metrics SET student_nll = 99, tfidf_to_student = 5")
        assert measure(con, "m-1", settings, ["Hmm"], student) == 0
        stored = con.execute(
            "SELECT sample_id, student_nll, tfidf_to_student, teacher_token_share, n_switches "
            "FROM sample_metrics ORDER BY 1"
        ).fetchall()
        by_mode = {row["mode"]: row for row in metrics_by_mode(con, "m-1", kept_only=True)}
        tessy = published_metrics(con, "m-1", "tessy")
    assert stored == [("s1", 99.0, None, 0.75, 2), ("s2", 99.0, 0.0, 0.75, 2)]
    assert by_mode["tessy"]["rows"] == 1 and by_mode["tessy"]["student_nll"][1] == 99.0
    failed = check_gates(tessy, GatesConfig(max_median_student_nll=1.0))
    passed = check_gates(tessy, GatesConfig(max_median_student_nll=100.0))
    assert not failed.success and passed.success
    assert "curation.gates.max_median_student_nll" in failed.to_markdown()
    assert "observed 99.0" in failed.to_markdown()


def test_gates_need_the_metrics_they_read():
    with pytest.raises(ValueError, match=r"max_median_student_nll needs .*student_nll"):
        BuildConfig.model_validate(
            {
                "curation": {
                    "metrics": {"student_nll": False},
                    "gates": {"max_median_student_nll": 2.0},
                }
            }
        )
    with pytest.raises(ValueError, match=r"tfidf_ngram_range"):
        BuildConfig.model_validate({"curation": {"metrics": {"tfidf_ngram_range": [3, 1]}}})


def test_failing_metric_and_ledger_gates_stop_publishing_and_are_named_in_the_report(
    tmp_path, models_root, prefect_harness
):
    root = tmp_path / "home"
    root.mkdir()
    (root / "models").symlink_to(models_root, target_is_directory=True)
    # An evaluation set holding the first demo prompt, word for word: one contaminated prompt.
    source = {"kind": "demo", "count": 2, "seed": 2026}
    first_prompt = next(read_rows(DemoSource(**source), tmp_path)).fields["text"]
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text(json.dumps({"id": "q-7", "prompt": first_prompt}) + "\n")
    config = BuildConfig.model_validate(
        {
            "home": str(root),
            "sources": [source],
            "generation": {"modes": ["tessy"], "max_total_tokens": 512},
            "curation": {
                # Flagged, the row stays among the rows to publish that the NLL gate reads.
                "decontamination": {
                    "action": "flag",
                    "eval_files": [{"name": "local", "kind": "jsonl", "path": str(eval_file)}],
                },
                "gates": {"max_median_student_nll": 0.0, "max_contaminated_rows": 0},
            },
        }
    )
    with pytest.raises(QualityGateFailed, match="quality gate failed"):
        build_dataset(config_file(config), run_id="gate-1")
    assert existing_versions(root / "hub", config.publish.repo_id) == []
    report = (root / "reports" / "gate-1.md").read_text()
    failing = [line for line in report.splitlines() if "**FAIL**" in line]
    assert len(failing) == 2
    assert "this run: contaminated rows at most 0" in failing[0]
    assert "curation.gates.max_contaminated_rows" in failing[0]
    assert "tessy rows: median student_nll at most 0.0" in failing[1]
    assert "curation.gates.max_median_student_nll" in failing[1]
    assert "| published | 0 |" in report


def test_ngrams_longer_than_every_text_count_nothing():
    # Three words, n-grams up to 5: no 4-gram or 5-gram exists, and none is counted.
    counts = ngram_counts(["ab cd ef"], (1, 5))
    assert counts.shape == (1, 6) and counts.sum() == 6
