"""The downstream probe on a tiny version of the local hub, with the miniature student: each
mode's student trains (its loss goes down), answers held-out problems judged by the real
verifier, and the table is stored and shown; a re-run skips finished modes; evaluation
problems among the training rows fail the probe before training, named; a mode the version
lacks is skipped with its reason."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest
from config_file import config_file
from hub_server import LoopbackHub, point_clients_at
from typer.testing import CliRunner

from tessy_factory.cli import app
from tessy_factory.config import DemoSource
from tessy_factory.db import connect
from tessy_factory.demo.problems import TASK_KINDS, build_problems, probe_problems
from tessy_factory.home import FactoryHome
from tessy_factory.miniature.styles import student_trace, teacher_trace
from tessy_factory.probe.config import ProbeConfig
from tessy_factory.probe.evaluate import pass_at_k
from tessy_factory.probe.problems import EvalProblemError, check_no_overlap, read_problems
from tessy_factory.probe.report import with_probe_section
from tessy_factory.probe.results import (
    ModeOutcome,
    ProbeKey,
    probe_rows,
    probe_table,
    store_outcome,
)
from tessy_factory.probe.runner import probe_hash
from tessy_factory.publish.local_hub import publish_local
from tessy_factory.publish.version import ROW_SCHEMA
from tessy_factory.sources import normalise_text, prompt_id

REPO = "tessy/probe-test"
VERSION = "v2026.12.02-1"
ROWS_PER_MODE = 16
REPORT = "# Build report: probe-test\n\n## Quality gate (great-expectations)\n\nall passed\n"


def version_rows(problems: list, modes: dict) -> pd.DataFrame:
    """Published rows of the miniature styles' traces: one per problem and mode."""
    kinds = {kind.name: kind for kind in TASK_KINDS}
    rows = []
    for mode, write in modes.items():
        rng = random.Random(5)
        for index, problem in enumerate(problems):
            trace = write(problem, kinds[problem.kind], rng)
            rows.append(
                {
                    "id": f"{mode}-{index}",
                    "messages": [
                        {"role": "user", "content": problem.text},
                        {"role": "assistant", "content": trace.completion},
                    ],
                    "prompt_id": prompt_id(normalise_text(problem.text)),
                    "source": "demo",
                    "license": "MIT",
                    "mode": mode,
                    "teacher_model": "miniature:teacher",
                    "student_model": "miniature:student",
                    "teacher_token_share": 1.0 if mode == "teacher-only" else 0.0,
                    "n_switches": 0,
                    "n_tokens": 50,
                    "verdict": "accepted",
                    "tests_passed": 5,
                    "tests_total": 5,
                    "run_id": "probe-test",
                }
            )
    return pd.DataFrame(rows, columns=ROW_SCHEMA.names)


@pytest.fixture(scope="module")
def home(tmp_path_factory, models_root) -> Path:
    """A factory home holding the miniature models and one tiny version of two modes."""
    root = tmp_path_factory.mktemp("probe") / "home"
    root.mkdir()
    (root / "models").symlink_to(models_root, target_is_directory=True)
    factory = FactoryHome.resolve(root)
    rows = version_rows(
        build_problems(ROWS_PER_MODE, 2026),
        {
            "teacher-only": lambda p, k, rng: teacher_trace(p, k, rng, read_rate=0.0),
            "student-only": student_trace,
        },
    )
    release = publish_local(
        factory.hub, REPO, rows, "card", "report", VERSION, "probe-test", html_report=""
    )
    # As a build records its release and writes its report: the probe adds its table there.
    with connect(factory.database) as con:
        con.execute(
            "INSERT INTO releases VALUES (?, ?, ?, ?, ?, ?, now(), NULL)",
            ["probe-test", REPO, VERSION, release.location, release.commit_sha, len(rows)],
        )
    (factory.reports / "probe-test.md").write_text(REPORT, encoding="utf-8")
    return root


def probe_config(home: Path, **changes) -> ProbeConfig:
    settings = {
        "home": str(home),
        "dataset": {"repo_id": REPO},
        "modes": ["teacher-only", "student-only", "tessy"],
        "training": {"epochs": 2, "learning_rate": 3e-3, "batch_size": 8, "max_length": 512},
        "evaluation": {
            "sources": [{"kind": "demo", "split": "probe", "count": 6, "seed": 3}],
            "samples": 2,
            "pass_k": [1, 2],
            "generation": {"max_total_tokens": 256, "answer_max_tokens": 96},
        },
        "student": {"temperature": 0.3},
        **changes,
    }
    return ProbeConfig.model_validate(settings)


@pytest.fixture(scope="module")
def probed(home, prefect_harness):
    from flows.probe import probe_dataset

    config = probe_config(home)
    return config, probe_dataset(config_file(config))


def stored(home: Path) -> dict[str, dict]:
    """The rows of the probe of `probe_config(home)` (the `probed` fixture's)."""
    with connect(Path(home) / "factory.duckdb") as con:
        key = probe_hash(probe_config(home))
        return {row["mode"]: row for row in probe_rows(con, REPO, VERSION, key)}


def test_each_mode_trains_evaluates_with_the_real_judge_and_is_stored(home, probed):
    _, result = probed
    rows = stored(home)
    assert result.version == VERSION
    assert set(rows) == {"untrained", "teacher-only", "student-only", "tessy"}
    for mode in ("teacher-only", "student-only"):
        row = rows[mode]
        assert row["status"] == "done"
        assert row["train_rows"] == ROWS_PER_MODE
        assert row["epoch_loss"][-1] < row["epoch_loss"][0], row["epoch_loss"]
        assert row["problems"] == 6 and row["samples"] == 12
        assert set(row["pass_at"]) == {"1", "2"}
        assert row["student_nll"] is not None
    untrained = rows["untrained"]
    assert untrained["train_rows"] is None and untrained["epoch_loss"] == []
    # The judge ran the answers: the trained students pass some problems, and not every
    # answer of every student passes (the miniature student writes buggy code too).
    assert any(rows[m]["accepted"] > 0 for m in rows if rows[m]["status"] == "done")
    assert any(
        rows[m]["accepted"] < rows[m]["samples"] for m in rows if rows[m]["status"] == "done"
    )
    assert "teacher-only" in result.table and "pass@2" in result.table
    # The build's report in the home gained the table, before its quality gate.
    report = (Path(home) / "reports" / "probe-test.md").read_text()
    assert report.index("## Downstream probe") < report.index("## Quality gate")
    assert "| v2026.12.02-1 | teacher-only |" in report


def test_a_mode_without_rows_is_skipped_with_its_reason(home, probed):
    _, result = probed
    assert result.skipped == ["tessy"]
    tessy = stored(home)["tessy"]
    assert tessy["status"] == "skipped"
    assert tessy["reason"] == f"version {VERSION} of {REPO} has no rows of mode tessy"
    assert "skipped: version" in result.table


def test_a_rerun_skips_the_finished_modes(home, probed, caplog):
    from flows.probe import probe_dataset

    config, _ = probed
    before = stored(home)
    with connect(Path(home) / "factory.duckdb") as con:
        # As if the probe had crashed during student-only: its row is not there.
        con.execute("DELETE FROM probe_results WHERE mode = 'student-only'")
    probe_dataset(config_file(config))
    after = stored(home)
    # Finished modes keep their row (same finish time); the missing one is done again.
    for mode in ("untrained", "teacher-only"):
        assert after[mode] == before[mode]
    assert after["student-only"]["status"] == "done"
    assert "finished by an earlier attempt of this probe, skipped" in caplog.text


def test_another_probe_of_the_version_has_its_own_table(home, probed):
    from flows.probe import probe_dataset

    config, first = probed
    database = Path(home) / "factory.duckdb"
    # Probe B (another config) of the same version, finished after A, of one mode only.
    other = ProbeKey(REPO, VERSION, "probe-b")
    with connect(database) as con:
        table_of_a = probe_table(probe_rows(con, REPO, VERSION, first.probe_hash))
        store_outcome(con, other, ModeOutcome("teacher-only", pass_at={"1": 0.987}), "b", "s", {})
        # The report and card show the latest probe whole, not B's row beside A's others.
        latest = [(row["mode"], row["pass_at"]) for row in probe_rows(con, REPO, VERSION)]
    try:
        assert latest == [("teacher-only", {"1": 0.987})]
        again = probe_dataset(config_file(config))
        # A's re-run skips its finished modes and shows A's table, not B's figure.
        assert again.table == table_of_a
        assert "0.987" not in again.table
        # A re-recorded its skipped mode: A is the latest probe now, all its rows, no B's.
        with connect(database) as con:
            latest = {row["mode"] for row in probe_rows(con, REPO, VERSION)}
        assert latest == {"untrained", "teacher-only", "student-only", "tessy"}
        report = (Path(home) / "reports" / "probe-test.md").read_text(encoding="utf-8")
        assert "| untrained (baseline)" in report and "0.987" not in report
    finally:
        with connect(database) as con:
            con.execute("DELETE FROM probe_results WHERE probe_hash = 'probe-b'")


def test_the_table_takes_whole_probes_and_orders_versions_by_number(tmp_path):
    def store(con, version: str, probe: str, mode: str, pass_1: float) -> None:
        key = ProbeKey(REPO, version, probe)
        store_outcome(con, key, ModeOutcome(mode, pass_at={"1": pass_1}), probe, "s", {})

    with connect(tmp_path / "factory.duckdb") as con:
        for version in ("v2026.12.02-10", "v2026.12.02-2", "v2026.12.01-3"):
            store(con, version, "a", "untrained", 0.1)
        store(con, "v2026.12.02-2", "a", "teacher-only", 0.2)
        store(con, "v2026.12.02-2", "a", "student-only", 0.3)
        store(con, "v2026.12.02-2", "b", "tessy", 0.4)  # probe B, later, one mode
        shown = [(r["version"], r["mode"]) for r in probe_rows(con, REPO)]
        assert shown == [
            ("v2026.12.01-3", "untrained"),
            ("v2026.12.02-2", "tessy"),
            ("v2026.12.02-10", "untrained"),
        ]
        of_a = [r["mode"] for r in probe_rows(con, REPO, "v2026.12.02-2", "a")]
        assert of_a == ["untrained", "student-only", "teacher-only"]
        assert [r["mode"] for r in probe_rows(con, REPO, "v2026.12.02-2", "b")] == ["tessy"]


def test_evaluation_problems_among_the_training_rows_fail_before_training(
    home, probed, prefect_harness
):
    from flows.probe import probe_dataset

    # The version's own prompts (build_problems(16, 2026)) as evaluation problems.
    config = probe_config(
        home,
        name="overlap",
        evaluation={"sources": [{"kind": "demo", "count": 3, "seed": 2026}]},
    )
    with pytest.raises(EvalProblemError) as failure:
        probe_dataset(config_file(config))
    message = str(failure.value)
    assert message.startswith(f"3 of 3 evaluation problems are in the training rows of {REPO}")
    for row in range(3):
        assert f"demo row {row} (" in message
    # The command says so in one line, exit code 1; its resume command names the version
    # `latest` was (a build publishing in between does not change what a resume probes).
    result = CliRunner().invoke(app, ["probe", config_file(config)])
    assert result.exit_code == 1, result.output
    assert "error: 3 of 3 evaluation problems are in the training rows" in result.output
    assert f"--version {VERSION}" in result.output
    with connect(Path(home) / "factory.duckdb") as con:
        names = {name for (name,) in con.execute("SELECT probe_name FROM probe_results").fetchall()}
    assert "overlap" not in names


def test_probe_problems_differ_from_training_and_build_problems():
    texts = {p.text for p in build_problems(2000, 1) + build_problems(2000, 2026)}
    from tessy_factory.demo.problems import training_problems

    texts |= {p.text for p in training_problems(3000, 1)}
    probe = probe_problems(500, 11)
    assert not {p.text for p in probe} & texts
    assert len({p.kind for p in probe}) == len(TASK_KINDS)
    # What a probe config's `split: probe` source reads: the probe draw, not the build's.
    read = read_problems([DemoSource(split="probe", count=200, seed=3)], Path("."))
    assert {p.text for p in read} <= {p.text for p in probe_problems(200, 3)}
    assert not {p.text for p in read} & texts


def test_an_evaluation_problem_with_a_training_rows_text_fails_naming_it():
    problems = read_problems([DemoSource(split="probe", count=3, seed=3)], Path("."))
    # Another prompt id (as another source would give it), the text of the second problem.
    rows = pd.DataFrame(
        [{"prompt_id": "other-id", "messages": [{"role": "user", "content": problems[1].text}]}]
    )
    with pytest.raises(EvalProblemError) as failure:
        check_no_overlap(problems, rows, "the version")
    assert str(failure.value).startswith(
        "1 of 3 evaluation problems are in the training rows of the version: "
        f"demo row 1 ({problems[1].prompt_id})"
    )
    check_no_overlap(problems[:1], rows, "the version")  # the others pass


def test_a_student_without_a_pad_token_pads_with_its_end_of_text():
    from types import SimpleNamespace

    from tessy_factory.probe.finetune import pad_token_id

    assert pad_token_id(SimpleNamespace(pad_token_id=None, eos_token_id=7)) == 7
    assert pad_token_id(SimpleNamespace(pad_token_id=3, eos_token_id=7)) == 3


def test_pass_at_k_is_the_unbiased_estimate():
    assert pass_at_k(2, 1, 1) == 0.5
    assert pass_at_k(2, 1, 2) == 1.0
    assert pass_at_k(5, 0, 3) == 0.0
    assert pass_at_k(10, 3, 2) == pytest.approx(1 - (7 * 6) / (10 * 9))


def test_the_probe_section_replaces_its_earlier_copy_in_a_report():
    report = "# Build report\n\n## Style metrics\n\nx\n\n## Quality gate (ge)\n\ny\n"
    once = with_probe_section(report, "## Downstream probe\n\nfirst\n")
    assert once.index("## Downstream probe") < once.index("## Quality gate")
    twice = with_probe_section(once, "## Downstream probe\n\nsecond\n")
    assert "first" not in twice and twice.count("## Downstream probe") == 1
    assert twice.endswith("## Quality gate (ge)\n\ny\n")


def test_lora_trains_adapters_and_saves_the_merged_student(models_root, tmp_path):
    from transformers import AutoModelForCausalLM

    from tessy_factory.miniature.build import miniature_dir
    from tessy_factory.probe.config import ProbeTraining
    from tessy_factory.probe.finetune import fine_tune

    rows = version_rows(build_problems(8, 7), {"student-only": student_trace})
    settings = ProbeTraining(
        epochs=3,
        learning_rate=1e-2,
        batch_size=4,
        max_length=512,
        lora={"enabled": True, "r": 4, "alpha": 8, "dropout": 0.0},
    )
    student = str(miniature_dir(models_root) / "student")
    training = fine_tune(student, rows, settings, tmp_path / "out")
    assert training.rows == 8 and len(training.steps) == 6
    assert training.epochs[-1] < training.epochs[0], training.epochs
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "out").state_dict()
    base = AutoModelForCausalLM.from_pretrained(student).state_dict()
    # A plain causal LM: the adapters merged into the attention weights they wrap, the rest
    # of the weights untouched.
    assert set(merged) == set(base)
    q_proj = "model.layers.0.self_attn.q_proj.weight"
    assert not merged[q_proj].equal(base[q_proj])
    assert merged["model.embed_tokens.weight"].equal(base["model.embed_tokens.weight"])


def test_the_loss_is_on_the_assistant_turn_in_the_rows_chat_format(models_root):
    from transformers import AutoTokenizer

    from tessy_factory.engine.text_model import chat_prompt
    from tessy_factory.miniature.build import miniature_dir
    from tessy_factory.predictors.labels import IGNORE
    from tessy_factory.probe.finetune import sft_examples

    tokenizer = AutoTokenizer.from_pretrained(miniature_dir(models_root) / "student")
    rows = version_rows(build_problems(3, 7), {"student-only": student_trace})
    examples, too_long = sft_examples(rows, tokenizer, max_length=512)
    assert too_long == 0 and len(examples) == 3
    for (ids, labels), messages in zip(examples, rows["messages"], strict=True):
        user, turn = messages[0]["content"], messages[1]["content"]
        prompt = tokenizer(chat_prompt(tokenizer, user), add_special_tokens=False)["input_ids"]
        assert ids[: len(prompt)] == prompt and labels[: len(prompt)] == [IGNORE] * len(prompt)
        learned = ids[len(prompt) :]
        assert labels[len(prompt) :] == learned
        assert tokenizer.decode(learned) == turn + tokenizer.eos_token
    # A row over max_length is left out and counted.
    assert sft_examples(rows, tokenizer, max_length=20)[1] == 3


def test_a_version_is_read_back_from_the_hub(monkeypatch, tmp_path):
    from tessy_factory.probe.config import DatasetRef
    from tessy_factory.probe.dataset import VersionNotFound, read_version
    from tessy_factory.publish.hub import publish_hub

    write, read = "hf_ProbeWriteToken0123456789", "hf_ProbeReadToken0123456789"
    problems = build_problems(4, 7)
    first = version_rows(problems, {"student-only": student_trace})
    second = version_rows(problems, {"teacher-only": student_trace, "tessy": student_trace})
    with LoopbackHub({write: "write", read: "read"}) as server:
        point_clients_at(monkeypatch, server.url)
        monkeypatch.setenv("PROBE_TOKEN", read)
        for version, rows in (("v2026.12.01-1", first), ("v2026.12.02-1", second)):
            publish_hub(REPO, rows, "card", "report", version, write, True, "r", html_report="")
        ref = {"repo_id": REPO, "target": "hub", "token_env": "PROBE_TOKEN"}
        latest = read_version(DatasetRef(**ref), tmp_path)
        older = read_version(DatasetRef(**ref, version="v2026.12.01-1"), tmp_path)
        with pytest.raises(VersionNotFound) as missing:
            read_version(DatasetRef(**ref, version="v2026.11.30-1"), tmp_path)
    assert latest.version == "v2026.12.02-1" and latest.modes() == ["teacher-only", "tessy"]
    assert list(latest.rows["id"]) == list(second["id"])
    assert older.modes() == ["student-only"] and len(older.rows) == 4
    assert str(missing.value) == (
        f"dataset {REPO} (hub): no version 'v2026.11.30-1'; versions: v2026.12.01-1, v2026.12.02-1"
    )


@pytest.mark.parametrize("keep", [True, False])
def test_a_checkpoint_is_kept_only_on_request(home, keep):
    from tessy_factory.probe.dataset import read_version
    from tessy_factory.probe.runner import Evaluator, checkpoint_dir, run_mode

    config = probe_config(
        home,
        keep_checkpoints=keep,
        training={"epochs": 1, "batch_size": 8, "learning_rate": 1e-3},
        evaluation={"sources": [{"kind": "demo", "split": "probe", "count": 2, "seed": 5}]},
    )
    factory = FactoryHome.resolve(home)
    version = read_version(config.dataset, factory.hub)
    key = ProbeKey(REPO, VERSION, f"keep-{keep}")
    problems = read_problems(config.evaluation.sources, Path(home))
    outcome = run_mode(
        "teacher-only", version, key, config, factory, Evaluator.load(config, problems, factory)
    )
    kept = checkpoint_dir(factory, key, "teacher-only")
    assert outcome.problems == 2
    assert outcome.checkpoint == (str(kept) if keep else None)
    assert (kept / "config.json").is_file() == keep
    assert list(factory.scratch.iterdir()) == []
