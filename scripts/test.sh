#!/usr/bin/env bash
# Set everything up, then run lint and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# vLLM's CPU build in its own venv, for the test of a build on vLLM servers.
scripts/setup-vllm.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/pytest "$@"
