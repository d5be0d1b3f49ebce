"""The metrics of evaluation and benchmarks; macro-F1 is training's selection score (training/dev_score.py)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from model.labels import LABELS
from training.dev_score import macro_f1  # noqa: F401  (the selection score; reported from here too)


@dataclass
class Metrics:
    """Scores of predicted labels against gold labels."""

    macro_f1: float
    accuracy: float
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    labels: list[str]
    n: int
    macro_f1_ci: tuple[float, float] | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def score(gold: Sequence[str], predicted: Sequence[str], groups: Sequence[str] | None = None,
          bootstrap_samples: int = 1000, seed: int = 0) -> Metrics:
    """Per-class precision/recall/F1, macro-F1, accuracy and the confusion matrix.

    With `groups` (article ids) the macro-F1 gets a 95% bootstrap interval that resamples whole
    articles, since sentences of one article are not independent.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    labels = list(LABELS)
    precision, recall, f1, support = precision_recall_fscore_support(gold, predicted, labels=labels, zero_division=0)
    per_class = {
        label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for label, p, r, f, s in zip(labels, precision, recall, f1, support)
    }
    gold_arr, pred_arr = np.asarray(gold), np.asarray(predicted)
    metrics = Metrics(
        macro_f1=macro_f1(gold, predicted),
        accuracy=float((gold_arr == pred_arr).mean()) if len(gold) else 0.0,
        per_class=per_class,
        confusion=confusion_matrix(gold, predicted, labels=labels).tolist(),
        labels=labels,
        n=len(gold),
    )
    if groups is not None and bootstrap_samples > 0 and len(gold):
        metrics.macro_f1_ci = bootstrap_macro_f1(gold_arr, pred_arr, np.asarray(groups), bootstrap_samples, seed)
    return metrics


def bootstrap_macro_f1(gold: np.ndarray, predicted: np.ndarray, groups: np.ndarray,
                       samples: int, seed: int) -> tuple[float, float]:
    """2.5th and 97.5th percentiles of macro-F1 over articles drawn with replacement."""
    rng = np.random.default_rng(seed)
    ids = np.unique(groups)
    members = {g: np.flatnonzero(groups == g) for g in ids}
    scores = []
    for _ in range(samples):
        drawn = np.concatenate([members[g] for g in rng.choice(ids, size=len(ids), replace=True)])
        scores.append(macro_f1(gold[drawn], predicted[drawn]))
    low, high = np.percentile(scores, [2.5, 97.5])
    return float(low), float(high)
