"""Temperature scaling: logits divided by one fitted number before the softmax, so that a
probability of 0.8 is right about 80% of the time.

The temperature is fitted on held-out sentences (`fit_temperature`, Guo et al., 2017: the
negative log-likelihood of their gold labels minimised over one temperature) and stored beside the
weights in calibration.json; every backend's logits pass through it. It never changes which
label wins, only how sure the model says it is. Training and `stance calibrate` also fold it into
the weights (model/temperature_folding.py); `folded` records that, per weight file, so that it is
applied once.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from model.atomic_files import write_text_atomic
from model.model_dir import CALIBRATION_FILE



class CalibrationFileError(ValueError):
    """calibration.json exists but cannot be used."""


@dataclass(frozen=True)
class TemperatureScaling:
    """Softmax of logits / temperature; temperature 1.0 (the default) leaves the model as trained."""

    temperature: float = 1.0
    fitted_on: str = ""
    sentences: int = 0
    # Weight file name -> the temperature already divided into its classification head. A backend
    # multiplies its logits by its file's entry to get raw logits back; absent (older directories,
    # unfolded files): 1.0.
    folded: dict[str, float] = field(default_factory=dict)

    def folded_into(self, file_name: str) -> float:
        """The temperature folded into weight file `file_name` (1.0 when none is)."""
        return self.folded.get(file_name, 1.0)

    def with_folded(self, file_names: Sequence[str], temperature: float) -> "TemperatureScaling":
        """This calibration, recording that `temperature` is now folded into each of `file_names`."""
        return replace(self, folded={**self.folded, **{name: float(temperature) for name in file_names}})

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
        folded = raw.get("folded", {})
        if not isinstance(folded, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in folded.values()):
            raise CalibrationFileError(f"{path}: field 'folded' must map weight file names to positive numbers, got {folded!r}")
        return cls(float(temperature), str(raw.get("fitted_on", "")), int(raw.get("sentences", 0)),
                   {str(k): float(v) for k, v in folded.items()})


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32, shifted by the row maximum so large logits cannot overflow."""
    logits = np.asarray(logits, dtype=np.float32)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def gold_ids(gold: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Each gold label's column in `labels`."""
    index = {label: i for i, label in enumerate(labels)}
    return np.array([index[g] for g in gold], dtype=np.int64)


def fit_temperature(logits: np.ndarray, gold: Sequence[str], labels: Sequence[str]) -> float:
    """The temperature in [0.05, 20] that minimises the negative log-likelihood of `gold`."""
    if len(gold) == 0:
        raise ValueError("cannot fit a temperature on no sentences")
    from scipy.optimize import minimize_scalar  # only fitting needs scipy; serving only applies the temperature

    target = gold_ids(gold, labels)
    logits = np.asarray(logits, dtype=np.float64)

    def nll(log_t: float) -> float:
        scaled = logits / np.exp(log_t)
        scaled -= scaled.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(scaled).sum(axis=1))
        return float((log_norm - scaled[np.arange(len(target)), target]).mean())

    # Searching log T keeps T positive and treats 0.5 and 2 as equally far from 1.
    best = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(best.x))


class LogitModel(Protocol):
    """What calibration needs of a classifier (StanceClassifier has it)."""

    labels: tuple[str, ...]
    calibration: TemperatureScaling

    def predict_logits(self, sentences: Sequence[str], contexts: Sequence[str] | None = None) -> np.ndarray: ...


def calibrate(classifier: LogitModel, sentences: Sequence[str], gold: Sequence[str], contexts: Sequence[str] | None,
              fitted_on: str) -> TemperatureScaling:
    """Fit the classifier's temperature on labelled sentences and set it on the classifier."""
    logits = classifier.predict_logits(sentences, contexts)
    calibration = TemperatureScaling(fit_temperature(logits, gold, classifier.labels), fitted_on, len(gold))
    classifier.calibration = calibration
    return calibration
