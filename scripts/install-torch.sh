#!/usr/bin/env bash
# Install the right torch build into the given Python before maskedit itself, so that pip never
# pulls a multi-GB CUDA build onto a machine without a GPU.
#   - NVIDIA GPU present: the default PyPI build (CUDA on Linux).
#   - otherwise, a CPU wheel found locally (pip's find-links, as on the project's dev/CI machines);
#   - otherwise, on Linux, the CPU-only wheel from PyTorch's CPU index; on macOS the PyPI build
#     (CPU/MPS, no CUDA).
set -euo pipefail
PY=${1:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
if "$PY" -c "import torch" 2>/dev/null; then
  echo "torch already installed: $("$PY" -c 'import torch; print(torch.__version__)')"
  exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "NVIDIA GPU found: installing the CUDA build of torch==$TORCH_VERSION"
  "$PY" -m pip install "torch==$TORCH_VERSION"
elif local=$(mktemp -d) && "$PY" -m pip download -q --no-deps --no-index -d "$local" \
    "torch==$TORCH_VERSION" >/dev/null 2>&1; then
  # a CPU wheel in pip's find-links (as on the project's dev/CI machines): install that file, its
  # dependencies from the usual index
  "$PY" -m pip install "$local"/torch-*.whl
  echo "installed the local CPU build of torch==$TORCH_VERSION"
elif [ "$(uname -s)" = "Linux" ]; then
  echo "no GPU: installing the CPU-only build of torch==$TORCH_VERSION"
  "$PY" -m pip install "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
else
  "$PY" -m pip install "torch==$TORCH_VERSION"
fi
