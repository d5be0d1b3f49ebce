"""What the training loop minimises, as an object the loop is handed: the rows to train on and
the loss of a batch of them. The default is cross-entropy against the gold labels, weighted by
class; distillation (training/distill.py) subclasses it to also follow a teacher.
"""
from __future__ import annotations

import torch
from datasets import Dataset

from model.labels import LABELS
from training.config import TrainConfig
from training.data import Record, label_counts, to_dataset


def inverse_frequency_weights(counts: list[int]) -> torch.Tensor:
    """Per-class weights n / (k * count), in LABELS order; an absent class gets weight 1."""
    total, k = sum(counts), len(LABELS)
    return torch.tensor([total / (k * count) if count else 1.0 for count in counts], dtype=torch.float32)


def class_weights(records: list[Record]) -> torch.Tensor:
    """Inverse-frequency weights of the gold labels ('balanced' class weighting)."""
    counts = label_counts(records)
    return inverse_frequency_weights([counts[label] for label in LABELS])


class TrainingObjective:
    """Cross-entropy against the gold labels ('balanced' class weighting: inverse frequency)."""

    cross_entropy: torch.nn.Module

    def check(self, config: TrainConfig) -> None:
        """Refuse a config this objective cannot train with, before any training starts."""

    def prepare(self, config: TrainConfig, train_records: list[Record], device: torch.device) -> None:
        """Set up the gold-label loss for the training split."""
        weights = class_weights(train_records) if config.class_weighting == "balanced" else None
        self.cross_entropy = torch.nn.CrossEntropyLoss(weight=weights).to(device)

    def dataset(self, train_records: list[Record], contexts: list[str] | None) -> Dataset:
        """The rows to train on: text (and context) with the integer gold label."""
        return to_dataset(train_records, contexts)

    def loss(self, logits: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """The loss of one batch; `targets` holds the dataset's target columns ('labels', ...)."""
        return self.cross_entropy(logits, targets["labels"])

    def files(self) -> dict[str, str]:
        """Extra files (name -> text) written into the model directory beside the weights."""
        return {}
