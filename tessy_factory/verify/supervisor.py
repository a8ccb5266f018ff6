"""Build the supervisor (`supervise.c`) once per process, where sandboxed programs can run it.

It goes to a fresh private directory that only this process writes, readable and executable
by all: the sandboxes run it as an unprivileged uid. Each process compiles its own copy
(about 0.1 s with cc) rather than sharing a cache another user could plant a binary in.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("supervise.c")
COMPILERS = ("cc", "gcc", "clang")


class SupervisorBuildError(RuntimeError):
    """The supervisor could not be compiled; the message says what to install."""


@functools.cache
def supervisor_binary() -> str:
    """Path of the compiled supervisor, built on first use."""
    compiler = next((found for name in COMPILERS if (found := shutil.which(name))), None)
    if compiler is None:
        raise SupervisorBuildError(
            "verification needs a C compiler to build its supervisor: install gcc"
        )
    directory = Path(tempfile.mkdtemp(prefix="tessy-supervisor-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    directory.chmod(0o755)
    binary = directory / "supervise"
    built = subprocess.run(
        [compiler, "-O2", "-o", str(binary), str(SOURCE)], capture_output=True, text=True
    )
    if built.returncode != 0:
        raise SupervisorBuildError(f"{compiler} could not build {SOURCE.name}: {built.stderr}")
    binary.chmod(0o755)
    return str(binary)
