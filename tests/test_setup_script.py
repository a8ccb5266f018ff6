"""scripts/setup.sh on a machine with a restored, current .venv: the sandbox's system tools
are checked every time, quietly when they are there."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# What the script runs besides the tools it checks for.
BASE_TOOLS = ("dirname", "sha256sum", "cut", "cat", "id")


def restored_checkout(root: Path) -> Path:
    """The script and pyproject.toml, with a .venv whose stamp says it is current."""
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup.sh", root / "scripts" / "setup.sh")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    (root / ".venv").mkdir()
    digest = hashlib.sha256((root / "pyproject.toml").read_bytes()).hexdigest()
    (root / ".venv" / ".installed").write_text(digest + "\n")
    return root


def path_of(bin_dir: Path, tools: list[str]) -> str:
    """A PATH holding only `tools` (from this machine) and this Python as python3."""
    bin_dir.mkdir()
    for tool in tools:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    (bin_dir / "python3").symlink_to(sys.executable)
    return str(bin_dir)


def setup(root: Path, path: str) -> subprocess.CompletedProcess:
    bash = shutil.which("bash")
    return subprocess.run(
        [bash, str(root / "scripts" / "setup.sh")],
        env={"PATH": path},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_current_venv_still_gets_the_sandbox_tools_checked(tmp_path):
    root = restored_checkout(tmp_path / "repo")

    # Neither bubblewrap nor g++ nor chromium nor apt-get: the script can only say what to
    # install.
    missing = setup(root, path_of(tmp_path / "bare", list(BASE_TOOLS)))
    assert missing.returncode == 0, missing.stderr
    assert "note: install bubblewrap, g++ and chromium" in missing.stderr

    present = setup(root, path_of(tmp_path / "full", [*BASE_TOOLS, "bwrap", "g++", "chromium"]))
    assert present.returncode == 0, present.stderr
    assert present.stdout == present.stderr == ""
