"""How far the model's confidence can be trusted: expected calibration error (ECE) and the
reliability diagram, with the raw softmax and with the model's fitted calibration map (the fitting
itself is model/calibration.py, which the trainer and `stance calibrate` use).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from eval.figures import plt, save_figure
from model.calibration import LogitCalibration, gold_ids, softmax

ECE_BINS = 15


@dataclass
class ReliabilityBin:
    """Sentences whose top probability fell in [low, high): how sure the model was, how often right."""

    low: float
    high: float
    count: int
    confidence: float
    accuracy: float


@dataclass
class CalibrationSummary:
    """ECE (15 equal-width bins of top probability) with the raw logits and with the model's calibration."""

    temperature: float
    ece_before: float
    ece_after: float
    bins_before: list[ReliabilityBin]
    bins_after: list[ReliabilityBin]
    method: str = "temperature"  # model.calibration.CALIBRATION_METHODS
    description: str = ""  # LogitCalibration.describe()

    def to_dict(self) -> dict:
        return {"temperature": self.temperature, "method": self.method, "ece_before": self.ece_before, "ece_after": self.ece_after,
                "bins": ECE_BINS, "reliability_before": [asdict(b) for b in self.bins_before],
                "reliability_after": [asdict(b) for b in self.bins_after]}


def reliability_bins(probabilities: np.ndarray, gold: Sequence[str], labels: Sequence[str],
                     bins: int = ECE_BINS) -> list[ReliabilityBin]:
    """Sentences grouped by top probability into `bins` equal-width bins (empty bins included)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == gold_ids(gold, labels)
    # A confidence of exactly 1.0 belongs in the last bin.
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    result = []
    for b in range(bins):
        members = which == b
        count = int(members.sum())
        result.append(ReliabilityBin(b / bins, (b + 1) / bins, count,
                                     float(confidence[members].mean()) if count else 0.0,
                                     float(correct[members].mean()) if count else 0.0))
    return result


def expected_calibration_error(probabilities: np.ndarray, gold: Sequence[str], labels: Sequence[str],
                               bins: int = ECE_BINS) -> float:
    """Sum over bins of (share of sentences) * |accuracy - mean confidence|."""
    n = len(gold)
    if n == 0:
        return 0.0
    return float(sum(b.count / n * abs(b.accuracy - b.confidence) for b in reliability_bins(probabilities, gold, labels, bins)))


def summarize_calibration(logits: np.ndarray, gold: Sequence[str], labels: Sequence[str],
                          calibration: LogitCalibration) -> CalibrationSummary:
    """ECE and reliability bins of the raw softmax and of the calibrated probabilities."""
    before, after = softmax(logits), calibration.probabilities(logits)
    return CalibrationSummary(calibration.temperature, expected_calibration_error(before, gold, labels),
                              expected_calibration_error(after, gold, labels),
                              reliability_bins(before, gold, labels), reliability_bins(after, gold, labels),
                              calibration.method, calibration.describe())


def plot_reliability(summary: CalibrationSummary, path: Path, title: str) -> None:
    """Reliability diagram: accuracy against confidence per bin, before and after scaling (PNG)."""
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    for bins, name, colour in ((summary.bins_before, f"raw softmax (ECE {summary.ece_before:.3f})", "#d62728"),
                               (summary.bins_after, f"{summary.description or f'T = {summary.temperature:.2f}'} (ECE {summary.ece_after:.3f})", "#1f77b4")):
        used = [b for b in bins if b.count]
        ax.plot([b.confidence for b in used], [b.accuracy for b in used], marker="o", color=colour, label=name)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top probability, mean per bin)")
    ax.set_ylabel("accuracy in bin")
    ax.set_title(f"{title}\nreliability, {ECE_BINS} bins", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
