"""python -m model.export.convert_weights MODEL_DIR: MODEL_DIR/pytorch_model.bin to MODEL_DIR/model.safetensors.

The only place in the project that unpickles weights; it runs only when a person asks for it, and
even then it uses torch.load(weights_only=True), which accepts tensors and plain containers and
refuses code. The output is written like every other file here (model/atomic_files.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model.atomic_files import replaced_atomically
from model.safe_weights import SAFE_WEIGHTS_FILE, UnsafeWeightsError


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
    with replaced_atomically(target) as scratch:
        save_file(tensors, str(scratch), metadata={"format": "pt"})
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.export.convert_weights",
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
