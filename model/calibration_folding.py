"""The fitted calibration map folded into the classification head, so that the weights alone give
calibrated probabilities.

The last layer computes logits = W h + b; multiplying row k of W by scale[k] and setting
b[k] to b[k] * scale[k] + shift[k] makes it compute logits * scale + shift, the calibration map
(a temperature T is scale 1/T). A plain `transformers.pipeline` on the model directory then
applies the softmax to calibrated logits, as StanceClassifier does, and picks the same labels.
calibration.json records, per weight file, the map folded into it (model/calibration.py), and
every backend undoes that map, so the rest of the code keeps seeing raw logits and applies the
calibration once.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from model.atomic_files import replaced_atomically
from model.calibration import AffineLogits, LogitCalibration
from model.model_dir import WEIGHTS_FILE, ModelDirectoryError, read_id2label


def head_parameter_names(shapes: Mapping[str, Sequence[int]], num_labels: int) -> tuple[str, str | None]:
    """The names of the classification head's final weight and bias among a model's parameters.

    It is the only 2-D weight with one row per label (BERT's `classifier.weight`, MPNet's and
    RoBERTa's `classifier.out_proj.weight`); the encoder's matrices are all far wider than 4 rows.
    """
    candidates = [name for name, shape in shapes.items()
                  if name.endswith(".weight") and len(shape) == 2 and shape[0] == num_labels]
    if len(candidates) != 1:
        raise ModelDirectoryError(f"cannot tell the classification head's weight among {candidates or 'no candidates'}; "
                                  f"expected exactly one {num_labels}-row weight matrix")
    bias = candidates[0][: -len("weight")] + "bias"
    return candidates[0], bias if bias in shapes else None


def refolded_head(weight: np.ndarray, bias: np.ndarray | None, old: AffineLogits,
                  new: AffineLogits) -> tuple[np.ndarray, np.ndarray | None]:
    """The head's weight and bias with `old` undone and `new` folded in, in float64."""
    rows = weight.shape[0]
    old_scale, old_shift = np.broadcast_to(old.scale, rows), np.broadcast_to(old.shift, rows)
    new_scale, new_shift = np.broadcast_to(new.scale, rows), np.broadcast_to(new.shift, rows)
    if bias is None and (np.any(old_shift) or np.any(new_shift)):
        raise ModelDirectoryError("the classification head has no bias, so a per-class shift cannot be folded into it")
    ratio = new_scale / old_scale
    weight = weight * ratio[:, None]
    if bias is not None:
        bias = (bias - old_shift) * ratio + new_shift
    return weight, bias


def _refold_tensors(tensors: dict, names: tuple[str, str | None], old: AffineLogits, new: AffineLogits) -> None:
    """Refold the head tensors among `tensors` (torch tensors) in place, keeping their dtype."""
    import torch

    weight_name, bias_name = names
    weight, bias = refolded_head(tensors[weight_name].double().cpu().numpy(),
                                 None if bias_name is None else tensors[bias_name].double().cpu().numpy(), old, new)
    for name, value in ((weight_name, weight), (bias_name, bias)):
        if name is not None:
            tensors[name].copy_(torch.from_numpy(value).to(tensors[name].dtype))


def fold_into_model(model, old: AffineLogits, new: AffineLogits) -> None:
    """Make a transformers model's head hold `new` instead of `old`, in place."""
    import torch

    parameters = dict(model.named_parameters())
    names = head_parameter_names({name: tuple(p.shape) for name, p in parameters.items()}, model.config.num_labels)
    with torch.no_grad():
        _refold_tensors(parameters, names, old, new)


def refold_weights_file(model_dir: str | Path, old: AffineLogits, new: AffineLogits) -> None:
    """Rewrite MODEL_DIR/model.safetensors so that its head holds `new` instead of `old`.

    The file is replaced atomically, keeping its metadata (transformers reads the "format" entry).
    """
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = Path(model_dir) / WEIGHTS_FILE
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    names = head_parameter_names({name: tuple(t.shape) for name, t in tensors.items()}, len(read_id2label(model_dir)))
    _refold_tensors(tensors, names, old, new)
    with replaced_atomically(path) as scratch:
        save_file(tensors, str(scratch), metadata=metadata)


def fold_into_classifier(classifier, calibration: LogitCalibration) -> LogitCalibration:
    """Fold `calibration`'s map into the head of a classifier's in-memory torch model (as the
    trainer holds it) and set the calibration that records it; return that calibration.

    The head's current fold (the backend's `unfold`) is undone first, so folding again leaves
    exactly `calibration`'s map in the weights.
    """
    backend = classifier.backend
    fold_into_model(backend.model, backend.unfold, calibration.affine)
    backend.unfold = calibration.affine
    classifier.calibration = calibration.with_folded([WEIGHTS_FILE], calibration.affine)
    return classifier.calibration
