"""A demo build on two vLLM servers (the CPU build), teacher and student, as users run it.

vLLM lives in a venv of its own (`scripts/setup-vllm.sh`); `scripts/test.sh` sets it up, so
CI runs this test. Where it is not set up the test skips, saying so, except under CI, where a
skip would hide that the server users run was never tried.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import datasets
import pytest
from config_file import config_file
from served_config import demo_build, served_config

from flows.build import build_dataset
from tessy_factory.curate.funnel import funnel
from tessy_factory.db import connect
from tessy_factory.engine.vllm_server import serving, vllm_python
from tessy_factory.miniature.build import miniature_dir

MODES = ["tessy", "teacher-only", "student-only"]
PROMPTS = 4


@pytest.fixture(scope="module")
def servers(models_root: Path) -> Iterator[dict[str, str]]:
    """The miniature teacher and student, each behind its own vLLM server: role -> API root."""
    if vllm_python() is None:
        reason = "vLLM is not set up: run scripts/setup-vllm.sh (or set TESSY_VLLM_PYTHON)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    root = miniature_dir(models_root)
    with serving([str(root / "teacher"), str(root / "student")]) as urls:
        yield dict(zip(("teacher", "student"), urls, strict=True))


def test_a_demo_build_on_vllm_servers_publishes_rows_the_judge_accepted(
    servers, models_root, tmp_path, prefect_harness
):
    build = demo_build(tmp_path, models_root, PROMPTS, require_accepted=True, min_rows_to_publish=1)
    home = Path(build["home"])
    # vLLM's sampling extensions, which transformers serve refuses: the build's startup
    # probe sends them too, so a refusal would stop it.
    config = served_config(
        servers,
        models_root,
        build,
        model_keys={"extra_body": {"top_k": 20, "min_p": 0.0}},
        modes=MODES,
        concurrency=8,
    )
    result = build_dataset(config_file(config), run_id="vllm-1")
    with connect(home / "factory.duckdb") as con:
        counts = funnel(con, "vllm-1")
        failures = con.execute(
            "SELECT mode, error FROM generations WHERE status != 'ok'"
        ).fetchall()
    loaded = datasets.load_dataset(result.dataset, split="train", cache_dir=str(tmp_path))
    assert counts["generated"] + counts["failed"] == PROMPTS * len(MODES)
    # The servers answered every request: what fails is the miniature models' own doing (a
    # thinking block never closed), never the endpoint.
    assert not [error for _, error in failures if "http" in (error or "").lower()], failures
    assert 0 < counts["published"] <= counts["verified"]
    assert counts["published"] == len(loaded) == result.rows
    assert set(loaded["verdict"]) == {"accepted"}
    assert "tessy" in set(loaded["mode"])
