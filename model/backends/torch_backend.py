"""PyTorch inference: logits for a batch of encoded sentences, from the safetensors weights.

The always-available backend: it needs nothing beyond the project's own dependencies.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import torch

from model.calibration import AffineLogits
from model.cpu_threads import physical_cores_available


class TorchBackend:
    """A transformers sequence-classification model run under `torch.inference_mode`."""

    name = "torch"

    def __init__(self, model: torch.nn.Module, unfold: AffineLogits = AffineLogits()) -> None:
        """`unfold`: the calibration map folded into the model's head (model/calibration_folding.py);
        it is undone on every output, so that callers always get raw logits."""
        self.model = model.eval()
        self.unfold = unfold
        id2label = model.config.id2label
        self.labels: tuple[str, ...] = tuple(id2label[i] for i in range(len(id2label)))
        accepted = inspect.signature(model.forward).parameters
        # DistilBERT and friends take no token_type_ids; pass only what forward() names.
        self._input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in accepted]

    @classmethod
    def load(cls, model_dir: str | Path, threads: int | None = None,
             unfold: AffineLogits = AffineLogits()) -> "TorchBackend":
        """Read the safetensors weights; torch runs `threads` intra-op threads (default: one per
        available physical core)."""
        from transformers import AutoModelForSequenceClassification

        torch.set_num_threads(threads or physical_cores_available())
        return cls(AutoModelForSequenceClassification.from_pretrained(Path(model_dir), use_safetensors=True), unfold)

    def logits(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Logits, one row per sentence, for inputs as `EncodedSentences.batch` returns them."""
        if self.model.training:
            # Predictions never use dropout; the trainer switches back to train() after its dev evaluation.
            self.model.eval()
        device = next(self.model.parameters()).device  # the trainer may hold the model on a GPU
        with torch.inference_mode():
            output = self.model(**{name: torch.from_numpy(inputs[name]).to(device) for name in self._input_names})
        logits = output.logits.float().cpu().numpy()
        return self.unfold.invert(logits)
