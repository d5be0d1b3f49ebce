"""The model directory `stance train` writes and everything else reads: its file names, and the
reading and writing of the project's own files in it (label_map.json, splits.json, the label
order in config.json). No other module types these names or parses these files.

A model directory holds the transformers files (config.json, model.safetensors, tokenizer files),
label_map.json (labels, max_length, context mode), calibration.json (model/calibration.py),
config.yaml (the run's training config), splits.json (the article ids of each split and where the
data was), metrics.json and README.md (the report and model card), eval/ (report directories),
and, after `stance export`, model.onnx and model.int8.onnx.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from model.atomic_files import write_text_atomic

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
LABEL_MAP_FILE = "label_map.json"
CALIBRATION_FILE = "calibration.json"
TRAINING_CONFIG_FILE = "config.yaml"
SPLITS_FILE = "splits.json"
METRICS_FILE = "metrics.json"
MODEL_CARD_FILE = "README.md"
DISTILLATION_FILE = "distillation.json"
REPORTS_DIR = "eval"
ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
DEFAULT_MAX_LENGTH = 128


class ModelDirectoryError(ValueError):
    """A model directory is missing, incomplete, or lacks the weights the chosen backend reads."""


@dataclass(frozen=True)
class LabelMap:
    """What label_map.json says about how the model reads its input."""

    labels: tuple[str, ...] = ()
    max_length: int = DEFAULT_MAX_LENGTH
    context: str = "none"


def read_label_map(model_dir: str | Path) -> LabelMap:
    """label_map.json of `model_dir`; the defaults for a directory written before it existed."""
    path = Path(model_dir) / LABEL_MAP_FILE
    if not path.is_file():
        return LabelMap()
    raw = json.loads(path.read_text(encoding="utf-8"))
    return LabelMap(tuple(raw.get("labels", ())), raw.get("max_length") or DEFAULT_MAX_LENGTH, raw.get("context", "none"))


def write_label_map(model_dir: str | Path, labels: Sequence[str], max_length: int, context: str) -> None:
    """Write label_map.json: the label order (with label2id for other tools), max_length and context."""
    write_text_atomic(Path(model_dir) / LABEL_MAP_FILE, json.dumps(
        {"labels": list(labels), "label2id": {label: i for i, label in enumerate(labels)},
         "max_length": max_length, "context": context}, indent=2))


def read_id2label(model_dir: str | Path) -> tuple[str | None, ...]:
    """The label of each output in order, from config.json's id2label (empty when it has none)."""
    id2label = json.loads((Path(model_dir) / CONFIG_FILE).read_text(encoding="utf-8")).get("id2label") or {}
    return tuple(id2label.get(str(i)) for i in range(len(id2label)))


def read_splits(model_dir: str | Path) -> dict | None:
    """splits.json of `model_dir` (split name -> article ids, "data" -> the labelled data), or None."""
    path = Path(model_dir) / SPLITS_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def write_splits(model_dir: str | Path, article_ids: dict[str, list[str]], data: str, extra_data: list[str]) -> None:
    """Write splits.json: each split's article ids and the resolved paths of the data they come from."""
    write_text_atomic(Path(model_dir) / SPLITS_FILE, json.dumps(
        {**article_ids, "data": str(Path(data).resolve()), "extra_data": [str(Path(p).resolve()) for p in extra_data]},
        indent=2))


@dataclass(frozen=True)
class ModelSummary:
    """What a reader of a model's output is told about the model: which one, and how recent."""

    name: str  # the directory's name, e.g. "default" for runs/default
    base_model: str
    trained: str  # an ISO date-time; the weights file's date for a directory written before it was recorded


def read_model_summary(model_dir: str | Path) -> ModelSummary:
    """The model's name, base model and training time, from metrics.json (weights file date as a fallback)."""
    import datetime as dt

    path = Path(model_dir)
    training: dict = {}
    if (path / METRICS_FILE).is_file():
        try:
            training = json.loads((path / METRICS_FILE).read_text(encoding="utf-8")).get("training") or {}
        except (json.JSONDecodeError, AttributeError):
            training = {}
    trained = training.get("finished_at")
    if not trained:
        stamp = (path / CONFIG_FILE).stat().st_mtime if (path / CONFIG_FILE).is_file() else 0
        trained = dt.datetime.fromtimestamp(stamp, dt.timezone.utc).strftime("%Y-%m-%d (file date)")
    return ModelSummary(path.resolve().name, str(training.get("base_model", "")), str(trained))
