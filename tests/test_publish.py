"""Publishing: versions on a real local git hub read back with `datasets`; card; Hub errors."""

from __future__ import annotations

import datetime
import json
import re
import shutil
import subprocess
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import datasets
import huggingface_hub
import pandas as pd
import pytest
import yaml

from tasks.publishing import _publishing_turn, _push
from tessy_factory.config import BuildConfig
from tessy_factory.db import connect, sql
from tessy_factory.home import FactoryHome
from tessy_factory.miniature.build import miniature_dir
from tessy_factory.predictors.registry import RegisteredPredictor, register
from tessy_factory.publish.card import render_card
from tessy_factory.publish.hub import PublishError, publish_hub
from tessy_factory.publish.local_hub import (
    checkout_version,
    existing_versions,
    publish_local,
    repo_path,
    version_of_run,
)
from tessy_factory.publish.revisions import directory_hash, hub_commit, model_revisions
from tessy_factory.publish.version import (
    DATA_FILE,
    LostVersionsError,
    RecordedVersion,
    Release,
    next_version,
    release_message,
    released_run,
    version_after,
)

REPO_ID = "tessy/demo"
V1 = "v2026.11.27-1"
V2 = "v2026.11.27-2"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No network, no user caches, no user git identity."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # Both libraries read the offline switch when first imported, so set it where they look.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    empty_config = tmp_path / "empty.gitconfig"
    empty_config.touch()
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty_config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
    ):
        monkeypatch.delenv(name, raising=False)


def make_rows(n: int, run_id: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "id": f"{run_id}-{i}",
                "messages": [
                    {"role": "user", "content": f"Add {i} and 1."},
                    {"role": "assistant", "content": f"<think>\n{i}+1\n</think>\n\n{i + 1}"},
                ],
                "prompt_id": f"p{i}",
                "source": "demo",
                "license": "apache-2.0",
                "mode": "tessy",
                "teacher_model": "miniature:teacher",
                "student_model": "miniature:student",
                "teacher_token_share": 0.25 + i / 100,
                "n_switches": i,
                "n_tokens": 40 + i,
                "verdict": "accepted",
                "tests_passed": 3,
                "tests_total": 3,
                "run_id": run_id,
            }
            for i in range(n)
        ]
    )


def card_for(version: str) -> str:
    manifest = {"config_hash": "abc123", "teacher": {"model": "miniature:teacher"}}
    return render_card(REPO_ID, version, "apache-2.0", manifest, "| stage | rows |\n|---|---|")


def publish(hub: Path, version: str, n: int):
    rows = make_rows(n, run_id=version)
    return publish_local(
        hub,
        REPO_ID,
        rows,
        card_for(version),
        f"# Report {version}\n",
        version,
        f"run-{version}",
        html_report=f"<h1>Report {version}</h1>",
    )


def load(path: Path, tmp_path: Path) -> datasets.Dataset:
    return datasets.load_dataset(str(path), split="train", cache_dir=str(tmp_path / "cache"))


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_latest_version_loads_with_datasets(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    publish(hub, V1, 3)
    release = publish(hub, V2, 5)

    loaded = load(repo_path(hub, REPO_ID), tmp_path)

    assert release.n_rows == 5
    assert release.location == str(hub / "tessy" / "demo")
    assert len(loaded) == 5
    assert loaded["id"] == [f"{V2}-{i}" for i in range(5)]
    assert loaded[4]["messages"] == make_rows(5, V2)["messages"][4]
    assert loaded[4]["n_tokens"] == 44


def test_a_version_replaces_all_data_files(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    publish(hub, V1, 3)
    stale = repo_path(hub, REPO_ID) / "data" / "train-00001-of-00002.parquet"
    stale.write_bytes(b"left over from an older layout")

    publish(hub, V2, 5)

    assert sorted(p.name for p in stale.parent.iterdir()) == [Path(DATA_FILE).name]
    assert len(load(repo_path(hub, REPO_ID), tmp_path)) == 5


def test_checkout_version_loads_the_old_snapshot(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    publish(hub, V1, 3)
    publish(hub, V2, 5)

    copy = checkout_version(hub, REPO_ID, V1, tmp_path / "v1")

    loaded = load(copy, tmp_path)
    assert loaded["id"] == [f"{V1}-{i}" for i in range(3)]
    assert (copy / "report.md").read_text() == f"# Report {V1}\n"
    assert (copy / "report.html").read_text() == f"<h1>Report {V1}</h1>"


def test_each_release_is_one_tagged_commit(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    first = publish(hub, V1, 3)
    second = publish(hub, V2, 5)
    repo = repo_path(hub, REPO_ID)

    assert git(repo, "log", "--format=%s").splitlines() == [
        release_message(V2, f"run-{V2}"),
        release_message(V1, f"run-{V1}"),
    ]
    assert git(repo, "rev-parse", f"{V1}^{{commit}}") == first.commit_sha
    assert git(repo, "rev-parse", f"{V2}^{{commit}}") == second.commit_sha
    assert git(repo, "cat-file", "-t", V1) == "tag"  # annotated, not lightweight
    files = git(repo, "show", "--name-only", "--format=", first.commit_sha).splitlines()
    assert sorted(files) == ["README.md", DATA_FILE, "report.html", "report.md"]
    assert existing_versions(hub, REPO_ID) == [V1, V2]
    assert git(repo, "status", "--porcelain") == ""


def test_duplicate_version_is_refused(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    publish(hub, V1, 3)

    with pytest.raises(ValueError, match=V1):
        publish(hub, V1, 5)

    assert git(repo_path(hub, REPO_ID), "rev-list", "--count", "HEAD") == "1"


def test_two_builds_publishing_at_once_get_a_version_each(tmp_path: Path) -> None:
    # Two builds on one home may reach their publish step at the same moment.
    home = FactoryHome.resolve(tmp_path / "home")
    config = BuildConfig.model_validate({"publish": {"target": "local", "repo_id": REPO_ID}})
    manifest = {"config_hash": "abc123", "teacher": {"model": "miniature:teacher"}}
    together = threading.Barrier(2)
    # Recorded runs: the push renders each one's HTML report from the database.
    with connect(home.database) as con:
        for run_id in ("run-a", "run-b"):
            values = [run_id, "demo", config.model_dump_json(), "abc123", datetime.datetime.now()]
            con.execute(sql("run_insert"), [*values, "{}"])

    def push(run_id: str, n: int) -> Release:
        rows = make_rows(n, run_id)
        together.wait()
        with _publishing_turn(config, home):
            release, _, _ = _push(run_id, config, home, rows, manifest, f"# {run_id}\n", [], False)
        return release

    with ThreadPoolExecutor(2) as pool:
        releases = list(pool.map(push, ["run-a", "run-b"], [3, 5]))
    first = next_version([], datetime.date.today())
    second = next_version([first], datetime.date.today())
    assert sorted(release.version for release in releases) == [first, second]
    for release, run_id, n in zip(releases, ["run-a", "run-b"], [3, 5], strict=True):
        copy = checkout_version(home.hub, REPO_ID, release.version, tmp_path / run_id)
        assert set(load(copy, tmp_path)["run_id"]) == {run_id} and release.n_rows == n


def test_bad_inputs_are_named(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    assert existing_versions(hub, REPO_ID) == []
    with pytest.raises(ValueError, match="n_tokens"):
        rows = make_rows(2, "r").drop(columns=["n_tokens"])
        publish_local(hub, REPO_ID, rows, card_for(V1), "", V1, "run-again", html_report="")
    with pytest.raises(ValueError, match="latest"):
        publish_local(
            hub, REPO_ID, make_rows(2, "r"), card_for(V1), "", "latest", "run-x", html_report=""
        )
    with pytest.raises(ValueError, match="repo_id"):
        repo_path(hub, "../escape")
    publish(hub, V1, 1)
    with pytest.raises(ValueError, match=V2):
        checkout_version(hub, REPO_ID, V2, tmp_path / "nowhere")


def test_next_version_sequencing() -> None:
    day = datetime.date(2026, 11, 27)
    assert next_version([], day) == "v2026.11.27-1"
    assert next_version(["v2026.11.27-1", "v2026.11.26-5"], day) == "v2026.11.27-2"
    assert next_version(["v2026.11.27-9", "v2026.11.27-10", "nightly"], day) == "v2026.11.27-11"
    assert next_version(["v2026.11.26-3"], datetime.date(2026, 11, 28)) == "v2026.11.28-1"


def test_version_after_numbers_past_the_record_and_the_target_and_names_lost_versions() -> None:
    """The one rule both targets (local hub, Hugging Face Hub) number versions by."""
    day = datetime.date(2026, 11, 27)
    v3 = "v2026.11.27-3"
    recorded = [RecordedVersion(V1, "c1", False), RecordedVersion(V2, "c2", False)]

    assert version_after(REPO_ID, recorded, {V1: "c1", V2: "c2"}, day) == (v3, [])
    # The target ahead of the record (another factory published too): after the target.
    assert version_after(REPO_ID, recorded[:1], {V1: "c1", V2: "c9"}, day) == (v3, [])
    # A deleted repo, and a re-created one whose tag names another commit: both lost.
    for target in ({}, {V1: "c1", V2: "other"}):
        with pytest.raises(LostVersionsError) as caught:
            version_after(REPO_ID, recorded, target, day)
        lost = [V1, V2] if not target else [V2]
        message = str(caught.value)
        assert f"{REPO_ID} lost" in message and f"to it: {', '.join(lost)} (" in message
        assert "--allow-rewrite" in message and "publish.repo_id" in message
        assert version_after(REPO_ID, recorded, target, day, allow_rewrite=True) == (v3, lost)
    # Once a rewrite reported a version lost, it is not lost again; it still counts.
    reported = [RecordedVersion(V1, "c1", True), RecordedVersion(V2, "c2", True)]
    assert version_after(REPO_ID, reported, {}, day) == (v3, [])
    # -10 after -9, in numbering and in the error.
    nine, ten = "v2026.11.27-9", "v2026.11.27-10"
    many = [RecordedVersion(ten, "a", False), RecordedVersion(nine, "b", False)]
    with pytest.raises(LostVersionsError, match=f"{nine}, {ten} "):
        version_after(REPO_ID, many, {}, day)
    assert version_after(REPO_ID, many, {ten: "a", nine: "b"}, day)[0] == "v2026.11.27-11"


def test_card_front_matter_names_the_data_files() -> None:
    manifest = {"config_hash": "abc123", "funnel": {"generated": 10, "kept": 7}}
    card = render_card(REPO_ID, V1, "apache-2.0", manifest, "Kept 7 of 10 samples.")

    _, front, body = card.split("---\n", 2)
    metadata = yaml.safe_load(front)
    assert metadata["license"] == "apache-2.0"
    assert metadata["configs"] == [
        {
            "config_name": "default",
            "data_files": [{"split": "train", "path": "data/train-*.parquet"}],
        }
    ]
    assert "tessy" in metadata["tags"]
    assert "Kept 7 of 10 samples." in body
    manifest_block = body.split("## Reproducibility manifest")[1].split("```json\n")[1]
    assert json.loads(manifest_block.split("```")[0]) == manifest


def test_publish_hub_offline_raises_a_clear_error() -> None:
    token = "hf_FAKEtoken1234567890"

    with pytest.raises(PublishError) as caught:
        publish_hub(
            REPO_ID,
            make_rows(2, "r"),
            card_for(V1),
            "",
            V1,
            token=token,
            private=True,
            run_id="run-1",
            html_report="",
        )

    message = str(caught.value)
    assert REPO_ID in message
    assert "offline" in message.lower()
    assert token not in "".join(traceback.format_exception(caught.value))


def test_version_of_run_finds_what_a_crashed_build_pushed(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    assert version_of_run(hub, REPO_ID, f"run-{V1}") is None
    publish(hub, V1, 3)
    publish(hub, V2, 2)

    assert version_of_run(hub, REPO_ID, f"run-{V1}") == V1
    assert version_of_run(hub, REPO_ID, f"run-{V2}") == V2
    assert version_of_run(hub, REPO_ID, "run-never") is None


def test_an_untagged_release_commit_of_the_run_is_tagged_with_its_own_version(
    tmp_path: Path,
) -> None:
    hub = tmp_path / "hub"
    publish(hub, V1, 3)
    repo = repo_path(hub, REPO_ID)
    # A held lock on the tag's ref fails `git tag` after the commit, as a crash there would.
    lock = repo / ".git" / "refs" / "tags" / f"{V2}.lock"
    lock.touch()
    with pytest.raises(PublishError, match=V2):
        publish(hub, V2, 5)
    lock.unlink()
    assert version_of_run(hub, REPO_ID, "run-other") is None

    # The version of the commit's message, whatever today's date would number it.
    assert version_of_run(hub, REPO_ID, f"run-{V2}") == V2

    assert existing_versions(hub, REPO_ID) == [V1, V2]
    assert git(repo, "rev-parse", f"{V2}^{{commit}}") == git(repo, "rev-parse", "HEAD")
    assert git(repo, "cat-file", "-t", V2) == "tag"
    assert git(repo, "rev-list", "--count", "HEAD") == "2"
    assert version_of_run(hub, REPO_ID, f"run-{V2}") == V2


def test_release_messages_name_version_and_run() -> None:
    message = release_message(V1, "demo-20261127-101500-ab12")
    assert released_run(message) == (V1, "demo-20261127-101500-ab12")
    assert released_run("Initial commit") is None


def test_a_directory_hash_is_its_files_names_and_bytes(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text('{"layers": 2}')
    (model / "sub" / "weights.bin").write_bytes(bytes(range(256)) * 64)
    first = directory_hash(model)

    assert re.fullmatch(r"sha256:[0-9a-f]{64}", first)
    shutil.copytree(model, tmp_path / "elsewhere")
    assert directory_hash(tmp_path / "elsewhere") == first
    (model / "config.json").write_text('{"layers": 3}')
    changed = directory_hash(model)
    assert changed != first
    (model / "config.json").rename(model / "other.json")
    assert directory_hash(model) not in (first, changed)


def hf_cache_with(root: Path, repo_id: str, commit: str) -> Path:
    """The Hugging Face cache layout a download of `repo_id` at `commit` leaves."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "0123abcd").write_text('{"model_type": "qwen3"}')
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "config.json").symlink_to(Path("../../blobs/0123abcd"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return root


def test_the_manifest_names_every_model_by_revision(
    tmp_path: Path, models_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = "4f1a2b3c" * 5
    cache = hf_cache_with(tmp_path / "hf-cache", "Qwen/Qwen3-0.6B", commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    tokenizer = tmp_path / "tokenizer"
    tokenizer.mkdir()
    (tokenizer / "tokenizer.json").write_text("{}")
    predictor = tmp_path / "predictors" / "tiny-student"
    shutil.copytree(miniature_dir(models_root) / "student-predictor", predictor)
    config = BuildConfig.model_validate(
        {
            "teacher": {"model": "miniature:teacher"},
            "student": {
                "model": "Qwen/Qwen3-0.6B",
                "backend": "openai",
                "base_url": "http://127.0.0.1:9/v1",
                "tokenizer": str(tokenizer),
            },
            "teacher_predictor": {"model": "lexicon"},
            "student_predictor": {"model": "registered:tiny-student"},
        }
    )
    with connect(tmp_path / "factory.duckdb") as con:
        register(
            con,
            RegisteredPredictor(
                "tiny-student", "student", str(predictor), "miniature:teacher", "lexicon", {},
                "predictors-1", datetime.datetime(2026, 11, 27),
            ),
        )  # fmt: skip
        revisions = model_revisions(config, models_root, con)

    teacher_dir = miniature_dir(models_root) / "teacher"
    assert revisions == {
        "teacher": {"reference": "miniature:teacher", "revision": directory_hash(teacher_dir)},
        "teacher_predictor": {
            "reference": "lexicon",
            "revision": None,
            "note": "no model",
        },
        "student": {"reference": "Qwen/Qwen3-0.6B", "revision": commit},
        "student.tokenizer": {"reference": str(tokenizer), "revision": directory_hash(tokenizer)},
        "student_predictor": {
            "reference": "registered:tiny-student",
            "revision": directory_hash(predictor),
        },
    }


def test_a_hub_model_neither_cached_nor_reachable_has_no_revision_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "no-cache"))
    assert hub_commit("Qwen/Qwen3-8B") == (
        None,
        "not in the local Hugging Face cache, and the Hub is offline",
    )
