"""Weights are read from safetensors only: a pickled checkpoint (pytorch_model.bin) can run any
code its author put in it the moment it is loaded, so a model directory holding only one is
refused, with the one explicit command that converts it (model/export/convert_weights.py):

    python -m model.export.convert_weights MODEL_DIR
"""
from __future__ import annotations

from pathlib import Path

from model.model_dir import WEIGHTS_FILE

SAFE_WEIGHTS_FILE = WEIGHTS_FILE
SAFE_WEIGHTS_INDEX = "model.safetensors.index.json"
PICKLED_WEIGHTS_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json", "training_args.bin")


class UnsafeWeightsError(ValueError):
    """A model directory offers weights only in a format that can execute code when loaded."""


def has_safe_weights(model_dir: str | Path) -> bool:
    """True when the directory holds safetensors weights (single file or sharded)."""
    path = Path(model_dir)
    return (path / SAFE_WEIGHTS_FILE).is_file() or (path / SAFE_WEIGHTS_INDEX).is_file()


def refuse_pickled_weights(model_dir: str | Path) -> None:
    """Raise UnsafeWeightsError, explaining why and how to convert, when the only weights are pickled."""
    path = Path(model_dir)
    pickled = [name for name in PICKLED_WEIGHTS_FILES[:2] if (path / name).is_file()]
    if pickled and not has_safe_weights(path):
        raise UnsafeWeightsError(
            f"{path} holds its weights only as {pickled[0]}, a Python pickle; loading a pickle can run any code "
            f"its author put in it, so this project reads weights from {SAFE_WEIGHTS_FILE} only. If you trust "
            f"where the file came from, convert it once: python -m model.export.convert_weights {path}")


def require_inside(model_dir: str | Path, file: str | Path) -> Path:
    """`file` resolved, refusing one that a link or '..' places outside the model directory."""
    root, resolved = Path(model_dir).resolve(), Path(file).resolve()
    if resolved.parent != root:
        raise UnsafeWeightsError(f"{file} resolves to {resolved}, outside the model directory {root}; "
                                 f"model files are loaded only from the model directory itself")
    return resolved
