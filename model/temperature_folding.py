"""The fitted temperature folded into the classification head, so that the weights alone give
calibrated probabilities.

The last layer computes logits = W h + b; dividing W and b by T makes it compute logits / T. A
plain `transformers.pipeline` on the model directory then applies the softmax to calibrated
logits, as StanceClassifier does. calibration.json records, per weight file, the temperature
folded into it (model/calibration.py), and every backend multiplies its output by that number,
so the rest of the code keeps seeing raw logits and applies the temperature once.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from model.atomic_files import replaced_atomically
from model.calibration import TemperatureScaling
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


def fold_into_model(model, factor: float) -> None:
    """Divide the head's final weight and bias of a transformers model by `factor`, in place."""
    import torch

    parameters = dict(model.named_parameters())
    weight, bias = head_parameter_names({name: tuple(p.shape) for name, p in parameters.items()}, model.config.num_labels)
    with torch.no_grad():
        for name in (weight, bias):
            if name is not None:
                parameters[name].div_(factor)


def refold_weights_file(model_dir: str | Path, folded: float, temperature: float) -> None:
    """Rewrite MODEL_DIR/model.safetensors so that its head holds `temperature` instead of `folded`.

    The head is multiplied by folded / temperature (undoing the old fold and applying the new one);
    the file is replaced atomically, keeping its metadata (transformers reads the "format" entry).
    """
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = Path(model_dir) / WEIGHTS_FILE
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    weight, bias = head_parameter_names({name: tuple(t.shape) for name, t in tensors.items()},
                                        len(read_id2label(model_dir)))
    for name in (weight, bias):
        if name is not None:
            tensors[name] = (tensors[name].double() * (folded / temperature)).to(tensors[name].dtype)
    with replaced_atomically(path) as scratch:
        save_file(tensors, str(scratch), metadata=metadata)


def fold_into_classifier(classifier, calibration: TemperatureScaling) -> TemperatureScaling:
    """Fold `calibration`'s temperature into the head of a classifier's in-memory torch model (as
    the trainer holds it) and set the calibration that records it; return that calibration.

    The head's current fold (the backend's `unfold`) is taken into account, so folding again
    leaves exactly `calibration.temperature` in the weights.
    """
    backend = classifier.backend
    fold_into_model(backend.model, calibration.temperature / backend.unfold)
    backend.unfold = calibration.temperature
    classifier.calibration = calibration.with_folded([WEIGHTS_FILE], calibration.temperature)
    return classifier.calibration
