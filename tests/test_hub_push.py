"""The Hugging Face Hub target, pushed for real: the real huggingface_hub client talks HTTP to
a loopback Hub (tests/hub_server.py), and `datasets.load_dataset` reads each version back
through the same endpoint. Covered: one commit and a tag per version, stale shards deleted,
a crash after the commit recovered without a second commit, refusals and server faults as
one-line errors that record nothing, retries of transient faults only, and a token that
never reaches logs, report or database."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from config_file import config_file
from hub_server import LoopbackHub, point_clients_at
from huggingface_hub import HfApi
from test_publish import card_for, make_rows

from flows.build import build_dataset
from tasks.publishing import publish
from tasks.runs import open_run
from tessy_factory.config import BuildConfig
from tessy_factory.db import connect
from tessy_factory.home import FactoryHome
from tessy_factory.publish.hub import PublishError, publish_hub
from tessy_factory.publish.version import DATA_FILE, Release, release_message

REPO_ID = "tessy/hub-demo"
TOKEN = "hf_LoopbackWriteToken0123456789"
READ_TOKEN = "hf_LoopbackReadToken0123456789"
V1 = "v2026.11.27-1"
V2 = "v2026.11.27-2"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackHub]:
    """The loopback Hub, with HF_ENDPOINT naming it and the write token in $HF_TOKEN."""
    with LoopbackHub({TOKEN: "write", READ_TOKEN: "read"}) as server:
        point_clients_at(monkeypatch, server.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        yield server


@pytest.fixture
def home(tmp_path: Path, models_root: Path) -> FactoryHome:
    root = tmp_path / "home"
    root.mkdir()
    (root / "models").symlink_to(models_root, target_is_directory=True)
    return FactoryHome.resolve(root)


def hub_config(home: FactoryHome, **publish_keys: object) -> BuildConfig:
    keys = {"target": "hub", "repo_id": REPO_ID, "retries": 0, **publish_keys}
    return BuildConfig.model_validate({"home": str(home.root), "publish": keys})


def publish_run(home: FactoryHome, run_id: str, config: BuildConfig) -> Release:
    """The build's publish task for `run_id`, a recorded run that kept no rows."""
    open_run(run_id, config, home, sources={})
    return publish(run_id, config, home, f"# Report {run_id}\n")


def push(version: str, n: int, run_id: str, token: str = TOKEN) -> Release:
    rows = make_rows(n, run_id)
    return publish_hub(
        REPO_ID,
        rows,
        card_for(version),
        f"# {version}\n",
        version,
        token,
        True,
        run_id,
        html_report=f"<h1>{version}</h1>",
    )


def releases(home: FactoryHome) -> list[tuple[str, str, str, str]]:
    with connect(home.database) as con:
        query = "SELECT run_id, version, location, commit_sha FROM releases ORDER BY created_at"
        return con.execute(query).fetchall()


def load_versions(hub: LoopbackHub, tmp_path: Path, *versions: str) -> dict[str, list[str]]:
    """The row ids of each version, as `datasets.load_dataset(REPO_ID, revision=...)` reads
    them in a fresh process that knows the Hub only by $HF_ENDPOINT."""
    script = (
        "import datasets, json, sys\n"
        "print(json.dumps({v: datasets.load_dataset(sys.argv[1], revision=v, split='train')"
        "['id'][:] for v in sys.argv[2:]}))"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HF_", "HUGGINGFACE_")) and key != "TRANSFORMERS_OFFLINE"
    }
    env.update(
        HF_ENDPOINT=hub.url,
        HF_TOKEN=TOKEN,
        HF_HOME=str(tmp_path / "reader-hf"),
        HF_UPDATE_DOWNLOAD_COUNTS="0",  # else it asks a real S3 bucket
    )
    done = subprocess.run(
        [sys.executable, "-c", script, REPO_ID, *versions],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


class Records(logging.Handler):
    """Every log record, formatted with its traceback, while attached."""

    LOGGERS = ("", "prefect", "huggingface_hub")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def __enter__(self) -> Records:
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeHandler(self)


def test_each_version_is_one_tagged_commit_a_full_snapshot_and_loads_back(
    hub: LoopbackHub, tmp_path: Path
) -> None:
    first = push(V1, 3, "run-1")
    api = HfApi(token=TOKEN)
    # An older layout left a second shard, which the data/train-* glob would load too.
    stale = "data/train-00001-of-00002.parquet"
    api.upload_file(
        path_or_fileobj=b"left over", path_in_repo=stale, repo_id=REPO_ID, repo_type="dataset"
    )

    second = push(V2, 5, "run-2")

    assert hub.commit_titles(REPO_ID) == [
        release_message(V2, "run-2"),
        f"Upload {stale} with huggingface_hub",
        release_message(V1, "run-1"),
        "initial commit",
    ]
    refs = api.list_repo_refs(REPO_ID, repo_type="dataset")
    assert {tag.name: tag.target_commit for tag in refs.tags} == {
        V1: first.commit_sha,
        V2: second.commit_sha,
    }
    assert sorted(hub.files_at(REPO_ID, V2)) == [
        ".gitattributes", "README.md", DATA_FILE, "report.html", "report.md"
    ]  # fmt: skip
    assert first.location == second.location == f"{hub.url}/datasets/{REPO_ID}"
    assert load_versions(hub, tmp_path, V1, V2) == {
        V1: [f"run-1-{i}" for i in range(3)],
        V2: [f"run-2-{i}" for i in range(5)],
    }


def test_a_commit_whose_answer_was_lost_is_tagged_on_resume_not_committed_again(
    hub: LoopbackHub, home: FactoryHome, prefect_harness
) -> None:
    config = hub_config(home)
    hub.lose_response("commit")
    with pytest.raises(PublishError, match=REPO_ID):
        publish_run(home, "run-lost", config)
    assert releases(home) == []
    titles = hub.commit_titles(REPO_ID)
    version = titles[0].split()[1]  # the Hub has the commit, untagged

    release = publish_run(home, "run-lost", config)

    assert hub.commit_titles(REPO_ID) == titles
    assert release.version == version and hub.calls["commit"] == 1
    tags = HfApi(token=TOKEN).list_repo_refs(REPO_ID, repo_type="dataset").tags
    assert [(tag.name, tag.target_commit) for tag in tags] == [(version, release.commit_sha)]
    # The same place a push that was answered records: the Hub it went to.
    location = f"{hub.url}/datasets/{REPO_ID}"
    assert releases(home) == [("run-lost", version, location, release.commit_sha)]


def test_a_tagged_push_never_recorded_is_recorded_from_its_tag(
    hub: LoopbackHub, home: FactoryHome, prefect_harness
) -> None:
    config = hub_config(home)
    # What a build that crashed between its push and its DuckDB record left on the Hub.
    pushed = push(V1, 1, "run-crashed")

    release = publish_run(home, "run-crashed", config)

    assert (release.version, release.commit_sha) == (V1, pushed.commit_sha)
    assert hub.calls["commit"] == 1 and hub.calls["tag"] == 1
    assert releases(home) == [("run-crashed", V1, pushed.location, pushed.commit_sha)]


@pytest.mark.parametrize(
    ("token", "fault", "cause"),
    [
        ("hf_ExpiredToken0123456789", None, "401 Unauthorized"),
        (READ_TOKEN, None, "403 Forbidden: You don't have the rights"),
        (TOKEN, 500, "500 Internal Server Error"),
    ],
    ids=["401-bad-token", "403-read-token", "500-on-commit"],
)
def test_a_refused_or_failed_push_is_a_one_line_error_and_records_nothing(
    hub: LoopbackHub,
    home: FactoryHome,
    prefect_harness,
    monkeypatch: pytest.MonkeyPatch,
    token: str,
    fault: int | None,
    cause: str,
) -> None:
    monkeypatch.setenv("HF_TOKEN", token)
    if fault:
        hub.fail("commit", fault)

    with Records() as records, pytest.raises(PublishError) as caught:
        publish_run(home, "run-refused", hub_config(home))

    message = str(caught.value)
    assert f"dataset repo {REPO_ID} on the Hugging Face Hub: HfHubHTTPError: " in message
    assert cause in message and "\n" not in message
    assert caught.value.transient == (fault == 500)
    assert releases(home) == []
    assert token not in "\n".join(records.lines) and token not in message


def test_a_gateway_error_page_is_a_transient_fault_naming_the_repo(hub: LoopbackHub) -> None:
    # huggingface_hub reads the card check's answer as JSON before it looks at the status.
    hub.fail("validate-yaml", 502, page=b"<html><body>502 Bad Gateway</body></html>")

    with pytest.raises(PublishError) as caught:
        push(V1, 1, "run-1")

    message = str(caught.value)
    assert f"cannot publish {V1} to dataset repo {REPO_ID} on the Hugging Face Hub" in message
    assert "not JSON" in message and caught.value.transient
    assert hub.calls["commit"] == 0


def test_a_private_repo_the_token_cannot_read_is_an_error_not_a_lost_repo(
    hub: LoopbackHub, home: FactoryHome, prefect_harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = hub_config(home)
    publish_run(home, "run-1", config)
    # No token at all: the Hub answers 401 for a private repo, found or not.
    monkeypatch.delenv("HF_TOKEN")

    with pytest.raises(PublishError, match=f"{REPO_ID} .*401"):
        publish_run(home, "run-2", config)

    assert [run for run, *_ in releases(home)] == ["run-1"]


def test_a_build_retries_a_hub_fault_not_a_refusal_and_never_shows_the_token(
    hub: LoopbackHub, home: FactoryHome, prefect_harness, tmp_path: Path
) -> None:
    config = BuildConfig.model_validate(
        {
            "home": str(home.root),
            "sources": [{"kind": "demo", "count": 2, "seed": 2026}],
            "generation": {"modes": ["tessy"], "max_total_tokens": 512, "answer_max_tokens": 128},
            "curation": {"min_rows_to_publish": 0},
            "publish": {"target": "hub", "repo_id": REPO_ID, "retries": 2, "retry_delay_s": 0},
        }
    )
    hub.fail("commit", 403)
    with Records() as records:
        with pytest.raises(PublishError, match="403"):
            build_dataset(config_file(config), run_id="hub-1")
        assert hub.calls["commit"] == 1  # a refusal is final
        hub.fail("commit", 503)
        # Resumes: only the publish is left.
        result = build_dataset(config_file(config), run_id="hub-1")

    assert hub.calls["commit"] == 3  # the 503, retried once
    assert hub.commit_titles(REPO_ID) == [
        release_message(result.version, "hub-1"),
        "initial commit",
    ]
    assert [(run, version) for run, version, _, _ in releases(home)] == [("hub-1", result.version)]
    with connect(home.database) as con:
        kept = [i for (i,) in con.execute("SELECT sample_id FROM curation WHERE kept").fetchall()]
    loaded = load_versions(hub, tmp_path, result.version)[result.version]
    assert kept and sorted(loaded) == sorted(kept)
    assert TOKEN not in "\n".join(records.lines)
    assert TOKEN not in Path(result.report).read_text()
    for database in home.root.glob("factory.duckdb*"):  # with a write-ahead log, if any
        assert TOKEN.encode() not in database.read_bytes()
    assert any(TOKEN.encode() in request for request in hub.seen)  # it was sent, to the Hub
