"""Calibration: a fitted map on the logits before the softmax, so that a probability of 0.8 is
right about 80% of the time.

Two maps are fitted on held-out sentences, each by minimising the negative log-likelihood of their
gold labels (Guo et al., 2017):

- temperature scaling: logits / T, one number. It never changes which label wins.
- vector scaling: logits * scale + shift, one scale and one shift per class. It can also move
  the decision boundaries, which corrects a model whose training mix had other class shares
  than the text it is calibrated on (the written corpus against 69%-neutral real news).

`choose_calibration` keeps vector scaling only where it does better on articles it was not fitted
on: each map is fitted on half of the held-out articles and scored on the other half, both ways
round, so that its extra numbers cannot win by fitting noise. Better means a lower negative
log-likelihood: a proper score of the probabilities, which is what calibration is for. The
macro-F1 of each map on the same halves is recorded beside it but does not decide: the
maximum-likelihood shifts move labels toward the class shares of the articles they were fitted on,
and whether that helps macro-F1 depends on the shares of the text the model then meets.

The fitted map is stored beside the weights in calibration.json and every backend's logits pass
through it. Training and `stance calibrate` also fold it into the classification head
(model/calibration_folding.py); `folded` records, per weight file, the map folded in so that a
backend can undo it and the map is applied once.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from model.atomic_files import write_text_atomic
from model.model_dir import CALIBRATION_FILE

CALIBRATION_METHODS = ("temperature", "vector")
CHOICES = ("auto",) + CALIBRATION_METHODS
# Fewer held-out articles than this and the two halves of choose_calibration are too small to
# tell the maps apart: temperature scaling, which cannot overfit, is kept.
MIN_ARTICLES_TO_CHOOSE = 10
_SCALE_BOUNDS = (0.05, 20.0)
_SHIFT_BOUNDS = (-10.0, 10.0)


class CalibrationFileError(ValueError):
    """calibration.json exists but cannot be used."""


@dataclass(frozen=True)
class AffineLogits:
    """logits * scale + shift, per class (a 1-element tuple applies to every class).

    Both calibration maps are one (a temperature T is scale 1/T and shift 0), and so is what a
    weight file's classification head has absorbed."""

    scale: tuple[float, ...] = (1.0,)
    shift: tuple[float, ...] = (0.0,)

    @classmethod
    def of_temperature(cls, temperature: float) -> "AffineLogits":
        return cls((1.0 / float(temperature),), (0.0,))

    @property
    def is_identity(self) -> bool:
        return all(s == 1.0 for s in self.scale) and all(b == 0.0 for b in self.shift)

    @property
    def temperature(self) -> float | None:
        """T when the map is a plain temperature (one scale for every class, no shift), else None."""
        if len(set(self.scale)) == 1 and all(b == 0.0 for b in self.shift):
            return 1.0 / self.scale[0]
        return None

    def apply(self, logits: np.ndarray) -> np.ndarray:
        return np.asarray(logits, dtype=np.float32) * np.asarray(self.scale, dtype=np.float32) \
            + np.asarray(self.shift, dtype=np.float32)

    def invert(self, logits: np.ndarray) -> np.ndarray:
        """The logits this map was applied to (scales are positive, so it is invertible)."""
        if self.is_identity:
            return logits
        return (np.asarray(logits, dtype=np.float32) - np.asarray(self.shift, dtype=np.float32)) \
            / np.asarray(self.scale, dtype=np.float32)

    def to_json(self) -> float | dict:
        """A plain temperature as one number (the format before vector scaling existed), else both vectors."""
        temperature = self.temperature
        return temperature if temperature is not None else {"scale": list(self.scale), "shift": list(self.shift)}

    @classmethod
    def from_json(cls, value, where: str) -> "AffineLogits":
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
            return cls.of_temperature(value)
        if isinstance(value, dict) and set(value) == {"scale", "shift"}:
            scale, shift = _numbers(value["scale"]), _numbers(value["shift"])
            if scale and shift and len(scale) == len(shift) and all(s > 0 for s in scale):
                return cls(scale, shift)
        raise CalibrationFileError(f"{where} must be a positive temperature or {{'scale': [positive numbers], "
                                   f"'shift': [numbers]}} of equal length, got {value!r}")


@dataclass(frozen=True)
class LogitCalibration:
    """The calibration map of a model directory; the identity (the default) leaves the model as trained.

    `temperature` is always the fitted temperature (reported by `stance serve`'s /health and the
    reports); with method "vector" the map applied is `class_scale`/`class_shift` instead.
    """

    temperature: float = 1.0
    fitted_on: str = ""
    sentences: int = 0
    method: str = "temperature"
    class_scale: tuple[float, ...] = ()
    class_shift: tuple[float, ...] = ()
    # Each method's held-out negative log-likelihood and macro-F1, when choose_calibration compared them.
    comparison: dict[str, dict[str, float]] = field(default_factory=dict)
    # Weight file name -> the map already folded into its classification head; absent (older
    # directories, unfolded files): none.
    folded: dict[str, AffineLogits] = field(default_factory=dict)

    @property
    def affine(self) -> AffineLogits:
        """The map this calibration applies to raw logits."""
        if self.method == "vector":
            return AffineLogits(self.class_scale, self.class_shift)
        return AffineLogits.of_temperature(self.temperature)

    def folded_into(self, file_name: str) -> AffineLogits:
        """The map folded into weight file `file_name` (the identity when none is)."""
        return self.folded.get(file_name, AffineLogits())

    def with_folded(self, file_names: Sequence[str], folded: AffineLogits) -> "LogitCalibration":
        """This calibration, recording that `folded` is now folded into each of `file_names`."""
        return replace(self, folded={**self.folded, **{name: folded for name in file_names}})

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, one row per row of raw logits."""
        return softmax(self.affine.apply(logits))

    def describe(self) -> str:
        """The map in a few words, for reports and command output."""
        if self.method == "vector":
            return "vector scaling (a scale and a shift per class)"
        return f"temperature T = {self.temperature:.2f}"

    def save(self, model_dir: str | Path) -> Path:
        """Write calibration.json into `model_dir` atomically."""
        path = Path(model_dir) / CALIBRATION_FILE
        raw = {"temperature": self.temperature, "fitted_on": self.fitted_on, "sentences": self.sentences,
               "method": self.method}
        if self.method == "vector":
            raw |= {"class_scale": list(self.class_scale), "class_shift": list(self.class_shift)}
        if self.comparison:
            raw["held_out_comparison"] = self.comparison
        raw["folded"] = {name: fold.to_json() for name, fold in self.folded.items()}
        write_text_atomic(path, json.dumps(raw, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, model_dir: str | Path) -> "LogitCalibration":
        """The model directory's calibration, or the identity when it has none (models trained before it existed)."""
        path = Path(model_dir) / CALIBRATION_FILE
        if not path.is_file():
            return cls()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise CalibrationFileError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
        if not isinstance(raw, dict):
            raise CalibrationFileError(f"{path}: expected a JSON object, got {type(raw).__name__}")
        temperature = raw.get("temperature")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
                or not math.isfinite(temperature) or temperature <= 0:
            raise CalibrationFileError(f"{path}: field 'temperature' must be a positive number, got {temperature!r}")
        method = raw.get("method", "temperature")
        if method not in CALIBRATION_METHODS:
            raise CalibrationFileError(f"{path}: field 'method' must be one of {', '.join(CALIBRATION_METHODS)}, got {method!r}")
        scale = shift = ()
        if method == "vector":
            fold = AffineLogits.from_json({"scale": raw.get("class_scale"), "shift": raw.get("class_shift")},
                                          f"{path}: fields 'class_scale' and 'class_shift'")
            scale, shift = fold.scale, fold.shift
        folded = raw.get("folded", {})
        if not isinstance(folded, dict):
            raise CalibrationFileError(f"{path}: field 'folded' must map weight file names to folded maps, got {folded!r}")
        comparison = raw.get("held_out_comparison", {})
        return cls(float(temperature), str(raw.get("fitted_on", "")), int(raw.get("sentences", 0)), method, scale, shift,
                   _comparison(comparison),
                   {str(k): AffineLogits.from_json(v, f"{path}: field 'folded' entry {k!r}") for k, v in folded.items()})


def _comparison(value) -> dict[str, dict[str, float]]:
    """The stored held-out comparison; informative only, so a malformed one is dropped, not refused."""
    if not isinstance(value, dict):
        return {}
    return {str(method): {str(k): float(v) for k, v in scores.items() if isinstance(v, (int, float))}
            for method, scores in value.items() if isinstance(scores, dict)}


def _numbers(value) -> tuple[float, ...]:
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                              and math.isfinite(v) for v in value):
        return ()
    return tuple(float(v) for v in value)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32, shifted by the row maximum so large logits cannot overflow."""
    logits = np.asarray(logits, dtype=np.float32)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def gold_ids(gold: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Each gold label's column in `labels`."""
    index = {label: i for i, label in enumerate(labels)}
    return np.array([index[g] for g in gold], dtype=np.int64)


def _nll(logits: np.ndarray, target: np.ndarray) -> float:
    """Mean negative log-likelihood of `target` under softmax(logits), in float64."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    return float((log_norm - shifted[np.arange(len(target)), target]).mean())


def fit_temperature(logits: np.ndarray, gold: Sequence[str], labels: Sequence[str]) -> float:
    """The temperature in [0.05, 20] that minimises the negative log-likelihood of `gold`."""
    if len(gold) == 0:
        raise ValueError("cannot fit a temperature on no sentences")
    from scipy.optimize import minimize_scalar  # only fitting needs scipy; serving only applies the map

    target = gold_ids(gold, labels)
    logits = np.asarray(logits, dtype=np.float64)
    # Searching log T keeps T positive and treats 0.5 and 2 as equally far from 1.
    best = minimize_scalar(lambda log_t: _nll(logits / np.exp(log_t), target),
                           bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(best.x))


def fit_vector_scaling(logits: np.ndarray, gold: Sequence[str], labels: Sequence[str]) -> AffineLogits:
    """The per-class scale and shift that minimise the negative log-likelihood of `gold`.

    The shifts are centred on zero: adding one number to every shift leaves the softmax unchanged.
    """
    if len(gold) == 0:
        raise ValueError("cannot fit vector scaling on no sentences")
    from scipy.optimize import minimize

    target = gold_ids(gold, labels)
    logits = np.asarray(logits, dtype=np.float64)
    k = logits.shape[1]
    one_hot = np.eye(k)[target]

    def loss_and_gradient(params: np.ndarray) -> tuple[float, np.ndarray]:
        scale, shift = params[:k], params[k:]
        scaled = logits * scale + shift
        scaled -= scaled.max(axis=1, keepdims=True)
        probabilities = np.exp(scaled)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        loss = -np.log(probabilities[np.arange(len(target)), target] + 1e-300).mean()
        error = (probabilities - one_hot) / len(target)
        return float(loss), np.concatenate([(error * logits).sum(axis=0), error.sum(axis=0)])

    start = np.concatenate([np.full(k, 1.0 / fit_temperature(logits, gold, labels)), np.zeros(k)])
    bounds = [_SCALE_BOUNDS] * k + [_SHIFT_BOUNDS] * k
    best = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B", bounds=bounds)
    shift = best.x[k:] - best.x[k:].mean()
    return AffineLogits(tuple(float(s) for s in best.x[:k]), tuple(float(b) for b in shift))


def _fit(method: str, logits: np.ndarray, gold: Sequence[str], labels: Sequence[str]) -> AffineLogits:
    if method == "vector":
        return fit_vector_scaling(logits, gold, labels)
    return AffineLogits.of_temperature(fit_temperature(logits, gold, labels))


def _macro_f1(target: np.ndarray, predicted: np.ndarray, classes: int) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(target, predicted, labels=list(range(classes)), average="macro", zero_division=0))


def held_out_scores(logits: np.ndarray, gold: Sequence[str], labels: Sequence[str],
                    groups: Sequence[str]) -> dict[str, dict[str, float]]:
    """Each method's negative log-likelihood and macro-F1 on articles it was not fitted on: the
    articles (by `groups`, one id per sentence) are cut into two halves, each map is fitted on one
    half and scores the other, both ways round; the scores pool both halves' sentences."""
    logits = np.asarray(logits, dtype=np.float64)
    articles = sorted(set(groups))
    # Every other article, in a seeded order, so that the halves do not follow file order.
    order = np.random.default_rng(0).permutation(len(articles))
    first_half = {articles[i] for i in order[::2]}
    in_first = np.array([g in first_half for g in groups])
    target = gold_ids(gold, labels)
    gold = list(gold)
    scores = {}
    for method in CALIBRATION_METHODS:
        calibrated = np.zeros_like(logits)
        for fit_rows in (in_first, ~in_first):
            fitted = _fit(method, logits[fit_rows], [gold[i] for i in np.flatnonzero(fit_rows)], labels)
            calibrated[~fit_rows] = fitted.apply(logits[~fit_rows])
        scores[method] = {"nll": round(_nll(calibrated, target), 5),
                          "macro_f1": round(_macro_f1(target, calibrated.argmax(axis=1), len(labels)), 5)}
    return scores


def vector_scaling_wins(comparison: dict[str, dict[str, float]]) -> bool:
    """True when held_out_scores found vector scaling's probabilities better than the
    temperature's: a lower negative log-likelihood on the articles each was not fitted on."""
    return comparison["vector"]["nll"] < comparison["temperature"]["nll"]


def choose_calibration(logits: np.ndarray, gold: Sequence[str], labels: Sequence[str], groups: Sequence[str] | None,
                       fitted_on: str, method: str = "auto") -> LogitCalibration:
    """The calibration fitted on all of `gold`: `method`, or with "auto" vector scaling where
    vector_scaling_wins, else temperature scaling (also when there are too few articles to compare)."""
    if method not in CHOICES:
        raise ValueError(f"calibration method must be one of {', '.join(CHOICES)}, got {method!r}")
    comparison: dict[str, dict[str, float]] = {}
    if method == "auto":
        method = "temperature"
        if groups is not None and len(set(groups)) >= MIN_ARTICLES_TO_CHOOSE:
            comparison = held_out_scores(logits, gold, labels, groups)
            method = "vector" if vector_scaling_wins(comparison) else "temperature"
    temperature = fit_temperature(logits, gold, labels)
    scale = shift = ()
    if method == "vector":
        fitted = fit_vector_scaling(logits, gold, labels)
        scale, shift = fitted.scale, fitted.shift
    return LogitCalibration(temperature, fitted_on, len(gold), method, scale, shift, comparison)


class LogitModel(Protocol):
    """What calibration needs of a classifier (StanceClassifier has it)."""

    labels: tuple[str, ...]
    calibration: LogitCalibration

    def predict_logits(self, sentences: Sequence[str], contexts: Sequence[str] | None = None) -> np.ndarray: ...


def calibrate(classifier: LogitModel, sentences: Sequence[str], gold: Sequence[str], contexts: Sequence[str] | None,
              fitted_on: str, groups: Sequence[str] | None = None, method: str = "auto") -> LogitCalibration:
    """Fit the classifier's calibration on labelled sentences (`groups`: each one's article id,
    which lets "auto" compare the maps on unseen articles) and set it on the classifier."""
    logits = classifier.predict_logits(sentences, contexts)
    calibration = choose_calibration(logits, gold, classifier.labels, groups, fitted_on, method)
    classifier.calibration = calibration
    return calibration
