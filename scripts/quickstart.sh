#!/usr/bin/env bash
# The main job: install, train the default config, evaluate it, and label an example article.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}   # the base model comes from its PyPI package
.venv/bin/stance train configs/default.yaml
.venv/bin/stance evaluate runs/default data/contrast.jsonl
if [ -f ../shared/data/realnews_dev.jsonl ]; then   # the team's real-news dev set, when present
  .venv/bin/stance evaluate runs/default ../shared/data/realnews_dev.jsonl
fi
.venv/bin/stance predict runs/default examples/gas_dispute_article.txt
