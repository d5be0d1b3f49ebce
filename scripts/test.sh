#!/usr/bin/env bash
# Run the test suite (installing first if .venv is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pytest ] || bash scripts/install.sh
HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -q "$@"
