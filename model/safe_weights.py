"""Weights are read from safetensors only: a pickled checkpoint (pytorch_model.bin) can run any
code its author put in it the moment it is loaded, so a model directory holding only one is
refused, with the one explicit command that converts it.

    python -m model.safe_weights MODEL_DIR

converts MODEL_DIR/pytorch_model.bin to MODEL_DIR/model.safetensors. It is the only place in the
project that unpickles weights, it runs only when a person asks for it, and even then it uses
torch.load(weights_only=True), which accepts tensors and plain containers and refuses code.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

SAFE_WEIGHTS_FILE = "model.safetensors"
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
            f"where the file came from, convert it once: python -m model.safe_weights {path}")


def require_inside(model_dir: str | Path, file: str | Path) -> Path:
    """`file` resolved, refusing one that a link or '..' places outside the model directory."""
    root, resolved = Path(model_dir).resolve(), Path(file).resolve()
    if resolved.parent != root:
        raise UnsafeWeightsError(f"{file} resolves to {resolved}, outside the model directory {root}; "
                                 f"model files are loaded only from the model directory itself")
    return resolved


def convert_to_safetensors(model_dir: str | Path) -> Path:
    """Write MODEL_DIR/model.safetensors from MODEL_DIR/pytorch_model.bin (explicit, trusted use only)."""
    import torch
    from safetensors.torch import save_file

    path = Path(model_dir)
    source = path / "pytorch_model.bin"
    if not source.is_file():
        raise FileNotFoundError(f"{source} does not exist")
    try:
        state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as error:  # the restricted unpickler refuses anything but tensors and containers
        raise UnsafeWeightsError(f"{source} holds more than tensors and was not loaded: {error}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UnsafeWeightsError(f"{source} is not a state dict of tensors")
    # Tied weights share storage, which safetensors refuses; each gets its own copy.
    tensors = {name: tensor.detach().contiguous().clone() for name, tensor in state.items()}
    target = path / SAFE_WEIGHTS_FILE
    fd, tmp = tempfile.mkstemp(dir=path, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"format": "pt"})
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.safe_weights",
                                     description="Convert a trusted pytorch_model.bin to model.safetensors.")
    parser.add_argument("model_dir")
    args = parser.parse_args(argv)
    try:
        target = convert_to_safetensors(args.model_dir)
    except (FileNotFoundError, UnsafeWeightsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {target}; the directory now loads without unpickling anything")
    return 0


if __name__ == "__main__":
    sys.exit(main())
