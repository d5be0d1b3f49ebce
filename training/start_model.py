"""The network a run starts from: a fresh classifier head on the base encoder, or an already
trained stance model whose fine-tuning continues (an analyst adapting the default to their news).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from transformers import AutoModelForSequenceClassification, AutoTokenizer
from transformers.utils import logging as hf_logging

from model.base_model import resolve_base_model
from model.labels import LABEL_TO_ID, LABELS
from model.model_dir import CONFIG_FILE, WEIGHTS_FILE, read_id2label
from training.config import ConfigError, TrainConfig


@dataclass
class StartModel:
    """The model and tokenizer to fine-tune, and where they came from (for metrics and the card)."""

    model: object
    tokenizer: object
    source: str


def load_start_model(config: TrainConfig) -> StartModel:
    """`config.init_from` when set (checked to be a stance model with our label order), else the base model."""
    if config.init_from:
        path = Path(config.init_from)
        if not (path / WEIGHTS_FILE).is_file() or not (path / CONFIG_FILE).is_file():
            raise ConfigError(f"init_from: {path} is not a model directory written by `stance train` "
                              f"(it lacks {WEIGHTS_FILE} or {CONFIG_FILE})")
        labels = read_id2label(path)
        if labels != LABELS:
            raise ConfigError(f"init_from: {path} predicts labels {list(labels)}; continuing needs {list(LABELS)} in that order")
        return StartModel(AutoModelForSequenceClassification.from_pretrained(path, use_safetensors=True),
                          AutoTokenizer.from_pretrained(path), str(path.resolve()))
    base = resolve_base_model(config.base_model)
    previous_verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the fresh classifier head is expected, not a warning
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
        model = AutoModelForSequenceClassification.from_pretrained(
            base, use_safetensors=True, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)), label2id=dict(LABEL_TO_ID))
    finally:
        hf_logging.set_verbosity(previous_verbosity)
    return StartModel(model, tokenizer, base)
