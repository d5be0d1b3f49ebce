"""ONNX Runtime inference: logits for a batch of encoded sentences, from an exported model.

Serving from ONNX imports neither torch nor transformers, which is most of a cold start and of
the memory; onnxruntime is an optional extra, so it is imported only when this backend is used.
"""
from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import numpy as np

from model.calibration import AffineLogits
from model.cpu_threads import physical_cores_available

INSTALL_HINT = "pip install 'stance-news[onnx]'"


def onnxruntime_available() -> bool:
    """True when onnxruntime can be imported (without importing it)."""
    return importlib.util.find_spec("onnxruntime") is not None


def import_onnxruntime():
    """The onnxruntime module, or an ImportError that says how to install it."""
    try:
        return importlib.import_module("onnxruntime")
    except ImportError as error:
        raise ImportError(f"the ONNX backend needs onnxruntime, which is not installed: {INSTALL_HINT}") from error


class OnnxBackend:
    """One ONNX Runtime session on the CPU; `logits` may be called from several threads at once."""

    name = "onnx"

    def __init__(self, model_file: str | Path, labels: tuple[str, ...], threads: int | None = None,
                 spin: bool = True, unfold: AffineLogits = AffineLogits()) -> None:
        """`spin=False`: the session's threads sleep as soon as a call ends instead of spinning for
        the next one; for a session that shares the cores with another (the fp32 recheck).
        `unfold`: the calibration map folded into the file's head (model/calibration_folding.py);
        it is undone on every output, so that callers always get raw logits."""
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        if not spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.intra_op_num_threads = threads or physical_cores_available()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.model_file = Path(model_file)
        self.labels = labels
        self.unfold = unfold
        self._session = ort.InferenceSession(str(self.model_file), options, providers=["CPUExecutionProvider"])
        self._input_names = [i.name for i in self._session.get_inputs()]
        self._output_name = self._session.get_outputs()[0].name

    def logits(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Logits, one row per sentence, for inputs as `EncodedSentences.batch` returns them."""
        logits = self._session.run([self._output_name], {name: inputs[name] for name in self._input_names})[0]
        return self.unfold.invert(logits)
