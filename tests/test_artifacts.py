"""The Prefect artifacts of a build: stable keys per dataset, so two builds of one dataset are
two versions of each artifact, the latest naming the latest version and where it went."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from config_file import config_file
from prefect_artifacts import artifacts

from flows.build import build_dataset
from tessy_factory.artifacts import artifact_keys, html_report, key_slug
from tessy_factory.config import BuildConfig
from tessy_factory.figures import rounded
from tessy_factory.home import FactoryHome

# A dataset of its own: the Prefect harness is shared by the whole session.
REPO_ID = "tessy/history"


def test_keys_are_derived_from_the_dataset_as_prefect_allows() -> None:
    keys = artifact_keys("Org_X/My.Data")
    assert keys.summary == "org-x-my-data-summary"
    for key in (keys.summary, keys.funnel, keys.metrics, keys.report):
        assert re.fullmatch(r"[a-z0-9-]+", key), key
    # The probe's key shares the slug: a non-ASCII letter, which Prefect rejects, goes too.
    assert key_slug("Équipe/Données_v2") == "quipe-donn-es-v2"


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory, models_root, prefect_harness):
    home = tmp_path_factory.mktemp("history") / "home"
    home.mkdir()
    (home / "models").symlink_to(models_root, target_is_directory=True)
    first = build_dataset(config_file(config(home, seed=1)), run_id="history-1")
    # The next night draws another problem.
    second = build_dataset(config_file(config(home, seed=2)), run_id="history-2")
    return FactoryHome.resolve(home), first, second


def config(home: Path, seed: int) -> BuildConfig:
    return BuildConfig.model_validate(
        {
            "home": str(home),
            "sources": [{"kind": "demo", "count": 1, "seed": seed}],
            "generation": {"modes": ["tessy"], "max_total_tokens": 512, "answer_max_tokens": 128},
            "curation": {"min_rows_to_publish": 0},
            "publish": {"repo_id": REPO_ID},
        }
    )


def test_two_builds_of_a_dataset_are_two_versions_of_each_artifact(two_builds) -> None:
    home, first, second = two_builds
    keys = artifact_keys(REPO_ID)
    assert keys.summary == "tessy-history-summary"
    summaries = artifacts(keys.summary)
    assert len(summaries) == 2
    latest, earlier = (artifact.data for artifact in summaries)
    assert second.version in latest and second.dataset in latest and "history-2" in latest
    assert first.version in earlier and second.version not in earlier

    funnels = artifacts(keys.funnel)
    assert len(funnels) == 2
    stages = {row["stage"]: row["rows"] for row in json.loads(funnels[0].data)}
    assert stages["published"] == second.rows

    metrics = artifacts(keys.metrics)
    assert len(metrics) == 2
    [tessy] = json.loads(metrics[0].data)
    assert tessy["mode"] == "tessy"
    figures = [value for value in tessy.values() if isinstance(value, float)]
    assert figures and all(value == rounded(value) for value in figures), tessy

    # A link artifact's data is a markdown link: [text](url).
    links = [artifact.data for artifact in artifacts(keys.report)]
    assert len(links) == 2
    assert links[0].endswith(f"({html_report(home, 'history-2').as_uri()})")
    assert second.version in links[0] and links[1].endswith("history-1.html)")
