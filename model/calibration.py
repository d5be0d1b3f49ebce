"""Temperature scaling: logits divided by one fitted number before the softmax, so that a
probability of 0.8 is right about 80% of the time.

The temperature is fitted on held-out sentences (eval/calibration.py) and stored beside the
weights in calibration.json; every backend's logits pass through it. It never changes which
label wins, only how sure the model says it is.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from model.atomic_files import write_text_atomic

CALIBRATION_FILE = "calibration.json"


class CalibrationFileError(ValueError):
    """calibration.json exists but cannot be used."""


@dataclass(frozen=True)
class TemperatureScaling:
    """Softmax of logits / temperature; temperature 1.0 (the default) leaves the model as trained."""

    temperature: float = 1.0
    fitted_on: str = ""
    sentences: int = 0

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, one row per row of logits."""
        return softmax(np.asarray(logits, dtype=np.float32) / np.float32(self.temperature))

    def save(self, model_dir: str | Path) -> Path:
        """Write calibration.json into `model_dir` atomically."""
        path = Path(model_dir) / CALIBRATION_FILE
        write_text_atomic(path, json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, model_dir: str | Path) -> "TemperatureScaling":
        """The model directory's calibration, or the identity when it has none (models trained before it existed)."""
        path = Path(model_dir) / CALIBRATION_FILE
        if not path.is_file():
            return cls()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise CalibrationFileError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
        temperature = raw.get("temperature") if isinstance(raw, dict) else None
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
                or not math.isfinite(temperature) or temperature <= 0:
            raise CalibrationFileError(f"{path}: field 'temperature' must be a positive number, got {temperature!r}")
        return cls(float(temperature), str(raw.get("fitted_on", "")), int(raw.get("sentences", 0)))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32, shifted by the row maximum so large logits cannot overflow."""
    logits = np.asarray(logits, dtype=np.float32)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
