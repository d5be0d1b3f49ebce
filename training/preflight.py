"""Checks of a run's inputs that would otherwise fail, or silently mislead, after training.

Everything here runs before the first optimiser step, so a mistake in an evaluation file or the
output path costs seconds, not a training run.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from model.model_dir import CONFIG_FILE
from training.checkpoints import refuse_unresumed_checkpoint
from training.config import ConfigError, TrainConfig
from training.data import DataError, Record, Splits, load_records


def check_run_inputs(config: TrainConfig, splits: Splits, base_model: str) -> dict[str, list[Record]]:
    """Validate what training will need at its end; return the extra evaluation sets, loaded."""
    _check_output_dir(Path(config.output_dir))
    refuse_unresumed_checkpoint(config)
    _check_max_length(config, base_model)
    seen = {r.article_id: name for name in ("train", "dev") for r in getattr(splits, name)}
    extra: dict[str, list[Record]] = {}
    for path in config.extra_eval:
        records = load_records(path)
        leaked = next((r for r in records if r.article_id in seen), None)
        if leaked is not None:
            raise DataError(f"{leaked.location}: field 'article_id' {leaked.article_id!r} is also in the {seen[leaked.article_id]} "
                            f"split of {config.data}; an extra evaluation set must hold articles the model never saw")
        extra[path] = records
    return extra


def _check_output_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"field 'output_dir': {out} exists and is not a directory")
    parent = next((p for p in [out.parent, *out.parent.parents] if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"field 'output_dir': cannot write under {parent}")


def _check_max_length(config: TrainConfig, base_model: str) -> None:
    """A max_length beyond the encoder's position table fails deep inside the first forward pass."""
    model_config = Path(base_model) / CONFIG_FILE
    if not model_config.is_file():  # a hub name: transformers checks it
        return
    positions = json.loads(model_config.read_text(encoding="utf-8")).get("max_position_embeddings")
    if isinstance(positions, int) and config.max_length > positions:
        raise ConfigError(f"field 'max_length' is {config.max_length}, but {config.base_model} reads at most "
                          f"{positions} tokens; use a value from 8 to {positions}")
