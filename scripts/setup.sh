#!/usr/bin/env bash
# Create .venv with the factory and its dev tools, and check the system tools the sandbox
# needs; re-running is cheap (the venv is skipped when unchanged).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "error: Python >= 3.11 is needed ($PYTHON is $("$PYTHON" --version 2>&1))" >&2; exit 1; }

# Every time, since a restored .venv does not bring them: the sandbox that judges generated
# code (bubblewrap), and gcc for its supervisor and C++.
if ! command -v bwrap >/dev/null || ! command -v g++ >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq bubblewrap g++ chromium >/dev/null
  else
    echo "note: install bubblewrap and g++ (e.g. sudo apt-get install bubblewrap g++)" >&2
  fi
fi

# The venv only when pyproject.toml changed.
stamp=.venv/.installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# Pinned first: this version is a CPU build on local disk here; an unpinned torch pulls
# several GB of CUDA wheels. On a GPU machine, install your CUDA torch before this script.
.venv/bin/python -c 'import torch' 2>/dev/null || .venv/bin/python -m pip install --quiet torch==2.13.0
.venv/bin/python -m pip install --quiet -e '.[dev]'
echo "$want" > "$stamp"
