"""int8 serving with an fp32 second look at near ties: int8's speed, fp32's labels.

Dynamic int8 quantisation gives each activation tensor one scale per batch, so its logits are
off by a little (the default model: at most 0.43, 99th percentile 0.3 on real news) and which
near-tied sentences flip depends on what they are batched with. Only a sentence whose top two
logits are close can flip: measured on the default model, every int8 label that disagreed with
fp32 had a top-two margin under 0.5 and nearly all under 0.3. So int8 labels every sentence, and
the few whose int8 margin is under RECHECK_MARGIN (3-6% of real news) are run again in fp32,
whose answer replaces int8's. Label agreement with torch on the 631 real dev sentences went from
97.9% to 99.8% for about 2% of int8's speed (README, Results, "CPU serving").
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from model.backends.onnx_backend import OnnxBackend
from model.calibration import AffineLogits

# Top-two margin of the calibrated logits under which int8's answer is checked in fp32.
RECHECK_MARGIN = 0.3


class RecheckedInt8Backend:
    """The int8 ONNX model, with rows near a tie recomputed by the fp32 ONNX model.

    The fp32 session is opened on first need (most batches of confident sentences never need
    it), under a lock so that threads sharing one classifier open it once.
    """

    name = "onnx"

    def __init__(self, int8_file: str | Path, fp32_file: str | Path, labels: tuple[str, ...],
                 threads: int | None = None, margin: float = RECHECK_MARGIN,
                 unfold: tuple[AffineLogits, AffineLogits] = (AffineLogits(), AffineLogits())) -> None:
        """`unfold`: the calibration maps folded into the int8 and the fp32 file (see OnnxBackend)."""
        self.int8 = OnnxBackend(int8_file, labels, threads=threads, unfold=unfold[0])
        self._fp32_unfold = unfold[1]
        self.model_file = self.int8.model_file
        self.check_file = Path(fp32_file)
        self.labels = labels
        self.margin = margin
        self._threads = threads
        self._fp32: OnnxBackend | None = None
        self._lock = threading.Lock()
        self.sentences_seen = 0
        self.sentences_rechecked = 0

    def logits(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """int8 logits, with the rows whose top-two margin is under `margin` taken from fp32."""
        logits = self.int8.logits(inputs)
        # The margin that decides the label is taken after the calibration map (the one folded
        # into the file, which the classifier applies): vector scaling moves the ties.
        top_two = np.sort(self.int8.unfold.apply(logits), axis=1)[:, -2:]
        rows = np.flatnonzero(top_two[:, 1] - top_two[:, 0] < self.margin)
        with self._lock:
            self.sentences_seen += len(logits)
            self.sentences_rechecked += len(rows)
        if len(rows):
            logits[rows] = self._fp32_backend().logits(_rows_of(inputs, rows))
        return logits

    @property
    def recheck_share(self) -> float:
        """Share of the sentences seen so far that fp32 recomputed."""
        return self.sentences_rechecked / self.sentences_seen if self.sentences_seen else 0.0

    def _fp32_backend(self) -> OnnxBackend:
        with self._lock:
            if self._fp32 is None:
                self._fp32 = OnnxBackend(self.check_file, self.labels, threads=self._threads, spin=False,
                                         unfold=self._fp32_unfold)
            return self._fp32


def _rows_of(inputs: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """The chosen rows of a padded batch, cut to their own longest length (padding is on the right)."""
    length = int(inputs["attention_mask"][rows].sum(axis=1).max())
    return {name: np.ascontiguousarray(array[rows, :length]) for name, array in inputs.items()}
