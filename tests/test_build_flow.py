"""End to end: a whole demo build under Prefect's test harness, with miniature models."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import datasets
import pytest
from config_file import config_file
from prefect_artifacts import artifacts

from flows.build import QualityGateFailed, build_dataset
from tasks.generation import run_generation
from tasks.runs import RunConflict, open_run
from tasks.sourcing import load_prompts, settle_prompts
from tessy_factory.config import BuildConfig
from tessy_factory.curate.funnel import funnel
from tessy_factory.db import connect
from tessy_factory.home import FactoryHome
from tessy_factory.miniature.build import miniature_dir
from tessy_factory.publish.local_hub import existing_versions
from tessy_factory.publish.revisions import ModelsChanged, directory_hash
from tessy_factory.publish.version import CARD_FILE

RUN_ID = "e2e-1"
MODES = ["tessy", "teacher-only", "student-only"]


def make_home(root: Path, models_root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "models").symlink_to(models_root, target_is_directory=True)
    return root


def write_extra_prompts(path: Path) -> None:
    good = {
        "text": "Read two integers a and b on one line and print their sum.",
        "tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "5 7\n", "output": "12\n"}],
    }
    # Two prompts whose own tests fail the check: excluded before generation, with reasons.
    bad_reference = {**good, "text": "Print the sum of a and b.", "reference": "print(0)"}
    vacuous = {"text": "Print nothing at all.", "tests": [{"input": "", "output": ""}]}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"text": "no tests here"}),
        json.dumps(bad_reference),
        json.dumps(vacuous),
    ]
    path.write_text("\n".join(lines) + "\n")


def demo_config(home: Path, prompts: Path) -> BuildConfig:
    return BuildConfig.model_validate(
        {
            "home": str(home),
            "sources": [
                {"kind": "demo", "count": 5, "seed": 2026},
                {"kind": "jsonl", "path": str(prompts), "license": "CC-BY-4.0"},
            ],
            "generation": {"modes": MODES, "max_total_tokens": 512, "answer_max_tokens": 128},
            "curation": {"require_accepted": True, "min_rows_to_publish": 1},
        }
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory, models_root, prefect_harness):
    root = tmp_path_factory.mktemp("build")
    home = make_home(root / "home", models_root)
    write_extra_prompts(root / "prompts.jsonl")
    config = demo_config(home, root / "prompts.jsonl")
    result = build_dataset(config_file(config), run_id=RUN_ID)
    return home, config, result


def test_published_version_loads_with_the_funnels_row_count(built, tmp_path):
    home, _, result = built
    loaded = datasets.load_dataset(result.dataset, split="train", cache_dir=str(tmp_path))
    with connect(home / "factory.duckdb") as con:
        counts = funnel(con, RUN_ID)
    assert counts["published"] == len(loaded) == result.rows
    assert counts["prompts_in"] == 10 and counts["quarantined"] == 2
    assert counts["tests_excluded"] == 2
    assert counts["generated"] + counts["failed"] == 6 * len(MODES)
    assert 0 < counts["published"] <= counts["verified"]
    assert set(loaded["verdict"]) == {"accepted"}
    assert set(loaded["mode"]) <= set(MODES)
    for messages in loaded["messages"]:
        assert [m["role"] for m in messages] == ["user", "assistant"]
        assert messages[1]["content"].startswith("<think>\n")
        assert "\n</think>\n\n" in messages[1]["content"]


def test_report_shows_each_mode_and_is_saved(built):
    home, _, result = built
    report = Path(result.report).read_text()
    assert Path(result.report).parent == home / "reports"
    for mode in MODES:
        assert f"| {mode} | 6 |" in report
    assert "Drop funnel" in report and "Quality gate" in report
    assert "| tests excluded | 2 |" in report
    # JSONL rows are named by line, in the excluded list as in the quarantined rows.
    assert "line 4: its reference solution fails its tests (wrong_answer" in report
    assert "line 5: its tests accept an empty program" in report
    assert "## Quarantined rows" in report and "| line 3 | missing tests |" in report
    assert f"| published | {result.rows} |" in report
    assert "**FAIL**" not in report
    # The cost of cooperation, from the stored time of each sample.
    ratio = re.search(r"A tessy sample took ([\d.]+)x the wall time of a teacher-only one", report)
    assert ratio and float(ratio.group(1)) > 0


def test_report_and_card_show_the_style_metrics_per_mode(built):
    home, _, result = built
    section = Path(result.report).read_text().split("## Style metrics")[1].split("\n## ")[0]
    published, generated = section.split("Rows to publish:")[1].split("All generated rows:")
    for mode in MODES:
        assert f"| {mode} | 6 |" in generated
    assert "| tessy |" in published
    card = (Path(result.dataset) / CARD_FILE).read_text()
    assert section in card
    with connect(home / "factory.duckdb") as con:
        nll = dict(
            con.execute(
                "SELECT g.mode, avg(m.student_nll) FROM sample_metrics AS m "
                "JOIN generations AS g USING (run_id, sample_id) WHERE run_id = ? GROUP BY 1",
                [RUN_ID],
            ).fetchall()
        )
    # What the student wrote itself is less foreign to it than what the teacher wrote.
    assert max(nll["student-only"], nll["tessy"]) < nll["teacher-only"]


def test_the_published_card_names_each_model_by_revision(built, models_root):
    _, _, result = built
    card = (Path(result.dataset) / CARD_FILE).read_text()
    block = card.split("## Reproducibility manifest")[1].split("```json\n")[1]
    manifest = json.loads(block.split("```")[0])
    miniature = miniature_dir(models_root)
    assert manifest["models"] == {
        place: {"reference": f"miniature:{role}", "revision": directory_hash(miniature / folder)}
        for place, role, folder in [
            ("teacher", "teacher", "teacher"),
            ("student", "student", "student"),
            ("teacher_predictor", "teacher", "teacher-predictor"),
            ("student_predictor", "student", "student-predictor"),
        ]
    }


def test_tessy_samples_record_who_wrote_what(built):
    home, _, _ = built
    with connect(home / "factory.duckdb") as con:
        rows = con.execute(
            "SELECT spans, teacher_tokens, student_tokens, n_switches FROM generations "
            "WHERE run_id = ? AND mode = 'tessy' AND status = 'ok'",
            [RUN_ID],
        ).fetchall()
    assert rows
    for spans, teacher_tokens, student_tokens, switches in rows:
        spans = json.loads(spans)
        assert spans[0]["author"] == "student"  # the student starts
        assert spans[-1]["author"] == "student" and spans[-1]["phase"] == "answer"
        assert sum(s["tokens"] for s in spans if s["author"] == "teacher") == teacher_tokens
        assert sum(s["tokens"] for s in spans if s["author"] == "student") == student_tokens
        assert switches >= 1


def test_rerun_with_the_same_run_id_redoes_nothing(built):
    home, config, first = built
    with connect(home / "factory.duckdb") as con:
        before = con.execute("SELECT count(*) FROM generations").fetchone()[0]
    again = build_dataset(config_file(config), run_id=RUN_ID)
    with connect(home / "factory.duckdb") as con:
        after = con.execute("SELECT count(*) FROM generations").fetchone()[0]
        status = con.execute("SELECT status FROM runs WHERE run_id = ?", [RUN_ID]).fetchone()[0]
    assert after == before
    assert again.version == first.version
    assert existing_versions(home / "hub", config.publish.repo_id) == [first.version]
    assert status == "completed"


def test_reusing_a_run_id_with_another_config_is_refused(built):
    _, config, _ = built
    changed = config.model_copy(update={"name": "other"})
    with pytest.raises(RunConflict, match=rf'{RUN_ID}.*name \("demo" -> "other"\)'):
        build_dataset(config_file(changed), run_id=RUN_ID)


def test_resuming_a_run_whose_source_file_changed_is_refused_naming_it(built, tmp_path):
    home, config, first = built
    prompts = Path(config.sources[1].path)
    original = prompts.read_text()
    with connect(home / "factory.duckdb") as con:
        before = con.execute("SELECT count(*) FROM prompts").fetchone()[0]
    try:
        prompts.write_text(original.replace("print their sum", "print their total"))
        with pytest.raises(RunConflict, match=rf"source jsonl:{prompts} changed its content"):
            build_dataset(config_file(config), run_id=RUN_ID)
    finally:
        prompts.write_text(original)
    with connect(home / "factory.duckdb") as con:
        after = con.execute("SELECT count(*) FROM prompts").fetchone()[0]
        status = con.execute("SELECT status FROM runs WHERE run_id = ?", [RUN_ID]).fetchone()[0]
    # Refused before loading anything: the released run and its record are as they were.
    assert (after, status) == (before, "completed")
    assert existing_versions(home / "hub", config.publish.repo_id) == [first.version]


def test_failures_are_retried_to_max_attempts_and_no_further_on_rerun(
    tmp_path, models_root, prefect_harness
):
    home = make_home(tmp_path / "home", models_root)
    config = BuildConfig.model_validate(
        {
            "home": str(home),
            "sources": [{"kind": "demo", "count": 2, "seed": 3}],
            # Too few tokens to ever close the thinking: every attempt fails.
            "generation": {"modes": ["student-only"], "max_total_tokens": 16, "max_attempts": 2},
        }
    )
    report = home / "reports" / "retry-1.md"
    for _ in range(2):
        with pytest.raises(QualityGateFailed, match="quality gate failed") as failed:
            build_dataset(config_file(config), run_id="retry-1")
        # One line naming the failing expectation and where to read the report.
        message = str(failed.value)
        assert "\n" not in message
        assert "at least 1 rows to publish (observed 0)" in message, message
        shown = "(tessy report retry-1; Prefect artifact tessy-demo-summary)"
        assert f"report: {report} {shown}" in message, message
        with connect(home / "factory.duckdb") as con:
            rows = con.execute("SELECT attempts, status, error FROM generations").fetchall()
            run = con.execute("SELECT status, error, version FROM runs").fetchone()
        assert [(attempts, status) for attempts, status, _ in rows] == [(2, "failed")] * 2
        assert all("did not end within 16 tokens" in error for _, _, error in rows)
        assert run[0] == "failed" and "QualityGateFailed" in run[1] and run[2] is None
    assert existing_versions(home / "hub", config.publish.repo_id) == []
    assert "| published | 0 |" in report.read_text() and "**FAIL**" in report.read_text()
    # The Prefect artifact names the failed expectation too.
    summaries = [a.data for a in artifacts("tessy-demo-summary") if "retry-1" in a.data]
    assert len(summaries) == 2 and "at least 1 rows to publish (observed 0)" in summaries[0]


def test_the_same_config_writes_the_same_samples_in_another_run(
    tmp_path, models_root, prefect_harness
):
    home = FactoryHome.resolve(make_home(tmp_path / "home", models_root))
    config = BuildConfig.model_validate(
        {
            "home": str(home.root),
            "sources": [{"kind": "demo", "count": 3, "seed": 5}],
            "generation": {"modes": ["tessy"], "max_total_tokens": 256},
        }
    )
    for run_id in ("first", "second"):
        open_run(run_id, config, home, sources={})
        load_prompts(run_id, config.sources, home, tmp_path)
        settle_prompts(run_id, home)
        run_generation(run_id, config, home)
    with connect(home.database) as con:
        texts = con.execute(
            "SELECT run_id, prompt_id, text FROM generations WHERE status = 'ok' ORDER BY 2, 1"
        ).fetchall()
    by_run = {run: {p: t for r, p, t in texts if r == run} for run in ("first", "second")}
    assert len(by_run["first"]) == 3
    assert by_run["first"] == by_run["second"]


def test_a_resumed_build_whose_model_changed_is_refused_naming_it(
    tmp_path, models_root, prefect_harness
):
    home = tmp_path / "home"
    shutil.copytree(models_root, home / "models")
    config = BuildConfig.model_validate(
        {
            "home": str(home),
            "sources": [{"kind": "demo", "count": 2, "seed": 2026}],
            "generation": {"modes": ["teacher-only"], "max_total_tokens": 256},
            "verification": {"check_tests": False},
        }
    )
    open_run("changed-1", config, FactoryHome.resolve(home), sources={})
    load_prompts("changed-1", config.sources, FactoryHome.resolve(home), tmp_path)
    settle_prompts("changed-1", FactoryHome.resolve(home))
    run_generation("changed-1", config, FactoryHome.resolve(home))
    with connect(home / "factory.duckdb") as con:
        kept = json.loads(con.execute("SELECT models FROM runs").fetchone()[0])
        # One sample failed with attempts left: a re-run would write it again.
        con.execute(
            "UPDATE generations SET status = 'failed', attempts = 1 WHERE sample_id = "
            "(SELECT min(sample_id) FROM generations)"
        )
    teacher = miniature_dir(home / "models") / "teacher"
    assert kept["teacher"]["revision"] == directory_hash(teacher)
    (teacher / "generation_config.json").write_text("{}")
    with pytest.raises(ModelsChanged, match=r"teacher \(sha256:\w+ -> sha256:\w+\)"):
        run_generation("changed-1", config, FactoryHome.resolve(home))
