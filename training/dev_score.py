"""The score that selects a checkpoint during training: macro-F1 over the four labels.

It lives here rather than in eval/ so that the training loop imports nothing from the layer above
it; eval.metrics reports the same function, so the score that chose a model and the score its
reports give are one computation.
"""
from __future__ import annotations

from typing import Sequence

from sklearn.metrics import f1_score

from model.labels import LABELS


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Macro-F1 over the four labels (a label absent from both sides counts as 0)."""
    return float(f1_score(gold, predicted, labels=list(LABELS), average="macro", zero_division=0))
