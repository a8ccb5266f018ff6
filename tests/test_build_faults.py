"""Build-level faults, with real `transformers serve` processes on loopback: a model that
cannot load stops the build before anything is generated, naming it and the cause; a server
killed mid-build is retried, then its unfinished samples are failed with the reason, the
build reports them and the quality gate decides; a re-run once it is back generates them."""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from config_file import config_file

from flows.build import QualityGateFailed, build_dataset
from tessy_factory.config import BuildConfig
from tessy_factory.curate.funnel import funnel
from tessy_factory.db import connect
from tessy_factory.engine.local_model import ModelLoadError
from tessy_factory.engine.loopback import Server, free_port
from tessy_factory.engine.transformers_server import running
from tessy_factory.miniature.build import miniature_dir

N_PROMPTS = 3


@pytest.fixture
def home(tmp_path: Path, models_root: Path) -> Path:
    root = tmp_path / "home"
    root.mkdir()
    (root / "models").symlink_to(models_root, target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def student_server(models_root: Path) -> Iterator[Server]:
    with running([str(miniature_dir(models_root) / "student")]) as (server,):
        yield server


def served_student(models_root: Path, url: str, **keys) -> dict:
    """The student config for the miniature student served at `url`."""
    return {
        "model": "miniature:student",
        "chunk_tokens": 5,
        "temperature": 0.3,
        "backend": "openai",
        "base_url": url,
        # A pinned server answers only to the name it was started with.
        "served_model": str(miniature_dir(models_root) / "student"),
        "max_retries": 1,
        **keys,
    }


def config(home: Path, modes: list[str], **keys) -> BuildConfig:
    """A lean build of N_PROMPTS demo prompts; `keys` are further top-level sections."""
    generation = {"modes": modes, "max_total_tokens": 512, "answer_max_tokens": 128}
    return BuildConfig.model_validate(
        {
            "home": str(home),
            "sources": [{"kind": "demo", "count": N_PROMPTS, "seed": 2026}],
            **keys,
            "generation": {**generation, **keys.get("generation", {})},
        }
    )


def broken_predictor(models_root: Path, tmp_path: Path) -> str:
    """A copy of the teacher's predictor whose config.json is not JSON."""
    copy = tmp_path / "broken-predictor"
    shutil.copytree(miniature_dir(models_root) / "teacher-predictor", copy)
    (copy / "config.json").write_text("{not json")
    return str(copy)


# Each way a model can fail to load, with what the error must say: the key and the cause.
LOAD_FAULTS = {
    "missing-directory": r"student\.model: cannot load model '.*no-such-model'",
    "broken-predictor-config": (
        r"teacher_predictor\.model: cannot load boundary predictor '.*broken-predictor'"
    ),
    "server-unreachable": (
        r"student\.model: model 'miniature:student' .*does not answer: "
        r"http://127\.0\.0\.1:9/v1/completions unreachable after 2 tries"
    ),
    "wrong-served-name": (
        r"student\.model: model 'miniature:student' \(served as 'no-such-model'\) does not "
        r"answer: .*HTTP 400.*no-such-model"
    ),
}


def faulty(fault: str, tmp_path: Path, models_root: Path, request) -> tuple[list[str], dict]:
    """The modes and config sections of a build with the given load fault."""
    if fault == "missing-directory":
        return ["student-only"], {"student": {"model": str(tmp_path / "no-such-model")}}
    if fault == "broken-predictor-config":
        # Predictors load in tessy mode only.
        predictor = broken_predictor(models_root, tmp_path)
        return ["tessy"], {"teacher_predictor": {"model": predictor}}
    if fault == "server-unreachable":
        return ["student-only"], {"student": served_student(models_root, "http://127.0.0.1:9/v1")}
    # A server that is up, but answers only to the name it was started with.
    url = request.getfixturevalue("student_server").url
    student = served_student(models_root, url, served_model="no-such-model")
    return ["student-only"], {"student": student}


@pytest.mark.parametrize("fault", LOAD_FAULTS)
def test_a_model_that_cannot_load_fails_the_build_before_generating(
    fault, home, tmp_path, models_root, prefect_harness, request
):
    modes, sections = faulty(fault, tmp_path, models_root, request)
    with pytest.raises(ModelLoadError, match=LOAD_FAULTS[fault]):
        build_dataset(config_file(config(home, modes, **sections)), run_id="load-1")
    with connect(home / "factory.duckdb") as con:
        status, error = con.execute("SELECT status, error FROM runs").fetchone()
        generated = con.execute("SELECT count(*) FROM generations").fetchone()[0]
    assert status == "failed" and error.startswith("ModelLoadError: ")
    assert re.search(LOAD_FAULTS[fault], error)
    assert generated == 0


class KillAfter(logging.Handler):
    """Kills the server once the build logs its first stored sample, as a crash would."""

    def __init__(self, server: Server) -> None:
        super().__init__()
        self.server = server
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.messages.append(message)
        if message.startswith("generation 1/") and self.server.process.poll() is None:
            self.server.process.kill()
            self.server.process.wait()


def test_a_server_killed_mid_build_fails_the_rest_and_a_rerun_generates_them(
    home, models_root, prefect_harness
):
    port = free_port()
    student_dir = str(miniature_dir(models_root) / "student")
    url = f"http://127.0.0.1:{port}/v1"
    build = config(
        home,
        ["student-only"],
        student=served_student(models_root, url),
        generation={"concurrency": 1, "server_retries": 2, "server_retry_delay_s": 0.2},
        # Every sample counts, accepted or not, so the gate's decision is about the fault.
        curation={"require_accepted": False, "min_rows_to_publish": 2},
    )
    watcher = logging.getLogger("prefect.task_runs")
    with running([student_dir], ports=[port]) as (server,):
        killer = KillAfter(server)
        watcher.addHandler(killer)
        try:
            with pytest.raises(QualityGateFailed):
                build_dataset(config_file(build), run_id="killed-1")
        finally:
            watcher.removeHandler(killer)
    assert server.process.returncode == -9  # killed by the handler, not at the exit

    # The task was retried with back-off before the samples were given up.
    assert any("Retry 2/2" in message for message in killer.messages), killer.messages
    reason = f"{url}/completions unreachable after 2 tries"
    with connect(home / "factory.duckdb") as con:
        rows = con.execute(
            "SELECT sample_id, status, attempts, error, text FROM generations"
        ).fetchall()
        counts = funnel(con, "killed-1")
        run = con.execute("SELECT status, error FROM runs").fetchone()
    unfinished = [row for row in rows if row[3] and reason in row[3]]
    assert len(rows) == N_PROMPTS and len(unfinished) == N_PROMPTS - 1
    # Failed by the server, not by themselves: no attempt spent, the retries named.
    assert all(r[1:3] == ("failed", 0) and "retried 2 times" in r[3] for r in unfinished)
    assert counts["failed"] >= N_PROMPTS - 1 and counts["published"] == 0
    assert run[0] == "failed" and "QualityGateFailed" in run[1]
    report = (home / "reports" / "killed-1.md").read_text()
    assert f"- {N_PROMPTS - 1}: {reason}" in report
    assert f"| failed | {counts['failed']} |" in report and "**FAIL**" in report

    # The server back on its port: the re-run generates the failed samples, and only those.
    first = next(row for row in rows if row not in unfinished)
    with running([student_dir], ports=[port]):
        result = build_dataset(config_file(build), run_id="killed-1")
    with connect(home / "factory.duckdb") as con:
        after = con.execute("SELECT sample_id, status, attempts, error, text FROM generations")
        after = {row[0]: row for row in after.fetchall()}
        status = con.execute("SELECT status FROM runs").fetchone()[0]
    assert len(after) == N_PROMPTS and after[first[0]] == first
    assert all(
        after[row[0]][2] >= 1 and reason not in (after[row[0]][3] or "") for row in unfinished
    )
    assert status == "completed" and result.rows >= 2


def test_a_released_run_writes_no_more_samples_on_a_rerun(home, prefect_harness):
    build = config(
        home,
        ["student-only"],
        curation={"require_accepted": False, "min_rows_to_publish": 0},
    )
    first = build_dataset(config_file(build), run_id="released-1")
    # A sample as a server that stopped answering leaves it: failed, no attempt spent.
    with connect(home / "factory.duckdb") as con:
        con.execute(
            "UPDATE generations SET status = 'failed', attempts = 0, error = 'server gone' "
            "WHERE sample_id = (SELECT min(sample_id) FROM generations)"
        )
        before = con.execute("SELECT * FROM generations ORDER BY sample_id").fetchall()
    again = build_dataset(config_file(build), run_id="released-1")
    with connect(home / "factory.duckdb") as con:
        after = con.execute("SELECT * FROM generations ORDER BY sample_id").fetchall()
    # Its version is out: a sample written now could never reach it.
    assert after == before and again.version == first.version
