"""Shared test setup: offline Hugging Face, one Prefect harness, miniature models built once."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

# Set before anything imports datasets or huggingface_hub, which read them at import time.
_HF_HOME = tempfile.mkdtemp(prefix="tessy-test-hf-")
# Removed when the session ends, so that test runs leave no cache dirs behind in /tmp.
atexit.register(shutil.rmtree, _HF_HOME, ignore_errors=True)
os.environ.update(
    HF_HOME=_HF_HOME,
    HF_DATASETS_CACHE=os.path.join(_HF_HOME, "datasets"),
    HF_HUB_OFFLINE="1",
    HF_DATASETS_OFFLINE="1",
    PREFECT_SERVER_ANALYTICS_ENABLED="false",
)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def models_root(request: pytest.FixtureRequest) -> Path:
    """A models directory with the miniature models, cached across test sessions."""
    from tessy_factory.miniature.build import ensure_miniature

    root = Path(request.config.cache.mkdir("tessy-models"))
    ensure_miniature(root)
    return root


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test harness for the session: starting one costs ~11 s, and more than
    Prefect's default 30 s limit on a loaded 2-core CI machine."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield
