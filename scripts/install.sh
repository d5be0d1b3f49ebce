#!/usr/bin/env bash
# Create .venv and install the project. torch is pinned first to the CPU wheel: an unpinned
# torch would pull a multi-GB CUDA build. Safe to run again; it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
# The ray extra (`stance score/serve --engine ray`, and their tests) adds about 240 MB and 20-30 s;
# serve (FastAPI, uvicorn, httpx) is what `stance serve` and its tests need.
.venv/bin/python -m pip install --quiet -e ".[dev,onnx,ray,serve]"
echo "installed into .venv ($(.venv/bin/python -c 'import torch, transformers; print(f"torch {torch.__version__}, transformers {transformers.__version__}")'))"
