"""The four stance labels, in precedence order (least to most confrontational)."""
from __future__ import annotations

# Precedence for mixed sentences: the most confrontational stance is the primary label.
LABELS: tuple[str, ...] = ("neutral", "conciliatory", "dismissive", "threatening")
LABEL_TO_ID: dict[str, int] = {label: i for i, label in enumerate(LABELS)}


def outranks(label: str, other: str) -> bool:
    """True when `label` takes precedence over `other` in a mixed sentence."""
    return LABEL_TO_ID[label] > LABEL_TO_ID[other]
