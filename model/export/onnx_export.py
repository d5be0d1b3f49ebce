"""`stance export`: a trained model directory to ONNX (fp32) and, optionally, int8, written
beside model.safetensors so that `StanceClassifier.from_pretrained` finds them.

Uses torch's TorchScript exporter (dynamo=False): with torch 2.13 it needs no package beyond
`onnx`, takes seconds rather than the dynamo exporter's minutes-long tracing plus onnxscript, and
gives the plain MatMul graph that ONNX Runtime's quantiser expects.
"""
from __future__ import annotations

import inspect
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.atomic_files import replaced_atomically
from model.backends.onnx_backend import INSTALL_HINT
from model.calibration import LogitCalibration
from model.encoding import SentenceEncoder
from model.model_dir import INT8_FILE, ONNX_FILE, WEIGHTS_FILE, read_label_map

INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]
# The traced example must be padded: for a batch without padding transformers may drop the
# attention mask, and the trace would then ignore the mask for every later batch.
EXAMPLE_SENTENCES = ["Talks resume.", "The ministry said the offer would be studied carefully before any reply."]
CHECK_SENTENCES = ["No.", "A third, longer check sentence that pads the others in its batch well beyond them.", "Two words"]
# Largest fp32 logit difference from torch that still counts as the same model.
MAX_LOGIT_DIFFERENCE = 1e-3


class OnnxExportError(RuntimeError):
    """The exported ONNX model does not compute what the PyTorch model computes."""


@dataclass(frozen=True)
class OnnxExport:
    """The files an export wrote and how long it took."""

    fp32: Path
    int8: Path | None
    seconds: float
    int8_recipe: str = ""


def require_export_tools() -> None:
    """Fail early, before a long training run, when onnx or onnxruntime is missing."""
    for module in ("onnx", "onnxruntime"):
        try:
            __import__(module)
        except ImportError as error:
            raise ImportError(f"exporting to ONNX needs {module}, which is not installed: {INSTALL_HINT}") from error


def export_onnx(model_dir: str | Path, int8: bool = False) -> OnnxExport:
    """Write MODEL_DIR/model.onnx and, with `int8`, MODEL_DIR/model.int8.onnx (each atomically)."""
    require_export_tools()
    import torch
    from transformers import AutoModelForSequenceClassification

    from model.export.onnx_quantize import quantize_int8

    started = time.perf_counter()
    path = Path(model_dir)
    if not (path / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(f"{path} has no {WEIGHTS_FILE}; is it the output of `stance train`?")
    # Eager attention traces to plain MatMul/Softmax; the SDPA path adds data-dependent branches.
    model = AutoModelForSequenceClassification.from_pretrained(path, use_safetensors=True, attn_implementation="eager").eval()
    encoder = SentenceEncoder.from_file(path, read_label_map(path).max_length)
    example = encoder.encode(EXAMPLE_SENTENCES).batch(np.arange(len(EXAMPLE_SENTENCES)))
    # MPNet and DistilBERT take no token_type_ids (MPNet's third argument is position_ids).
    names = [name for name in INPUT_NAMES if name in inspect.signature(model.forward).parameters]
    axes = {name: {0: "batch", 1: "tokens"} for name in names} | {"logits": {0: "batch"}}

    fp32 = path / ONNX_FILE
    with replaced_atomically(fp32) as scratch, warnings.catch_warnings():
        # The TorchScript exporter announces its deprecation and the tracer flags shape checks
        # that are constant for this model; neither is news to the user.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.simplefilter("ignore", category=UserWarning)
        torch.onnx.export(model, tuple(torch.from_numpy(example[name]) for name in names), str(scratch),
                          input_names=names, output_names=["logits"], dynamic_axes=axes,
                          opset_version=17, dynamo=False)
        _check_against_torch(scratch, model, encoder, names)
    int8_file, recipe = None, ""
    if int8:
        int8_file = path / INT8_FILE
        with replaced_atomically(int8_file) as scratch:
            recipe = quantize_int8(fp32, scratch, encoder,
                                   attention_heads=getattr(model.config, "num_attention_heads", None),
                                   hidden_size=getattr(model.config, "hidden_size", None)).describe()
    _record_fold(path, [fp32.name] + ([int8_file.name] if int8_file else []))
    return OnnxExport(fp32, int8_file, time.perf_counter() - started, recipe)


def _record_fold(path: Path, written: list[str]) -> None:
    """The ONNX files hold whatever calibration map model.safetensors had folded in; say so in calibration.json."""
    calibration = LogitCalibration.load(path)
    folded = calibration.folded_into(WEIGHTS_FILE)
    if any(calibration.folded_into(name) != folded for name in written):
        calibration.with_folded(written, folded).save(path)


def _check_against_torch(onnx_file: Path, model, encoder: SentenceEncoder, names: list[str]) -> None:
    """Catch a bad trace (a dropped mask, a shape baked in) on a batch unlike the example."""
    import onnxruntime as ort
    import torch

    batch = encoder.encode(CHECK_SENTENCES).batch(np.arange(len(CHECK_SENTENCES)))
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    exported = session.run(None, {i.name: batch[i.name] for i in session.get_inputs()})[0]
    with torch.inference_mode():
        reference = model(**{name: torch.from_numpy(batch[name]) for name in names}).logits.numpy()
    difference = float(np.abs(exported - reference).max())
    if difference > MAX_LOGIT_DIFFERENCE:
        raise OnnxExportError(f"{onnx_file.name}: logits differ from PyTorch by {difference:.2g} "
                              f"(more than {MAX_LOGIT_DIFFERENCE}); the export is wrong")
