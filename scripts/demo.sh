#!/usr/bin/env bash
# Set everything up, then run a complete offline demo build on embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PREFECT_SERVER_ANALYTICS_ENABLED=false
exec .venv/bin/tessy build configs/demo.yaml "$@"
