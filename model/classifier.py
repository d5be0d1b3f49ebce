"""StanceClassifier: a trained model directory turned into a prediction function.

Serving needs only this package: it imports nothing from training/ or eval/.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from model.sentences import split_sentences

LABEL_MAP_FILE = "label_map.json"


@dataclass(frozen=True)
class SentencePrediction:
    """The stance of one sentence of an article, with its span in the input text."""

    text: str
    start: int
    end: int
    label: str
    probabilities: dict[str, float]


class ModelDirectoryError(ValueError):
    """A model directory is missing, incomplete, or holds no safetensors weights."""


class StanceClassifier:
    """Labels sentences as neutral, conciliatory, dismissive or threatening.

    Inference is batched, sorted by length so padding stays short, and gradient-free;
    results come back in input order. One instance may be shared across threads.
    """

    def __init__(self, model: torch.nn.Module, tokenizer, max_length: int = 128, batch_size: int = 64) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        id2label = model.config.id2label
        self.labels: tuple[str, ...] = tuple(id2label[i] for i in range(len(id2label)))
        # Fast tokenizers keep truncation/padding state that concurrent calls would race on.
        self._tokenizer_lock = threading.Lock()

    @classmethod
    def from_pretrained(cls, model_dir: str | Path, max_length: int | None = None, batch_size: int = 64) -> "StanceClassifier":
        """Load a directory written by `stance train` (safetensors weights, tokenizer, label map)."""
        path = Path(model_dir)
        if not path.is_dir():
            raise ModelDirectoryError(f"model directory {path} does not exist")
        for required in ("config.json", "model.safetensors"):
            if not (path / required).is_file():
                raise ModelDirectoryError(f"model directory {path} lacks {required}; is it the output of `stance train`?")
        model = AutoModelForSequenceClassification.from_pretrained(path, use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(path)
        label_map = path / LABEL_MAP_FILE
        if max_length is None and label_map.is_file():
            max_length = json.loads(label_map.read_text(encoding="utf-8")).get("max_length")
        return cls(model, tokenizer, max_length=max_length or 128, batch_size=batch_size)

    def predict(self, article: str) -> list[SentencePrediction]:
        """Split an article into sentences and label each, in order."""
        if not isinstance(article, str):
            raise TypeError(f"predict expects the article text as a str, got {type(article).__name__}")
        sentences = split_sentences(article)
        probabilities = self.predict_proba([s.text for s in sentences])
        return [
            SentencePrediction(
                text=s.text,
                start=s.start,
                end=s.end,
                label=self.labels[int(row.argmax())],
                probabilities={label: float(p) for label, p in zip(self.labels, row)},
            )
            for s, row in zip(sentences, probabilities)
        ]

    def predict_proba(self, sentences: Sequence[str]) -> np.ndarray:
        """Probabilities, one row per sentence, columns in the order of `self.labels`."""
        if isinstance(sentences, str):
            raise TypeError("predict_proba expects a list of sentences; use predict() for an article")
        texts = list(sentences)
        probabilities = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        if not texts:
            return probabilities
        order = np.argsort([len(t) for t in texts], kind="stable")
        for first in range(0, len(texts), self.batch_size):
            batch = order[first:first + self.batch_size]
            probabilities[batch] = self._batch_probabilities([texts[i] for i in batch])
        return probabilities

    def _batch_probabilities(self, texts: list[str]) -> np.ndarray:
        with self._tokenizer_lock:
            encoded = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        with torch.inference_mode():
            logits = self.model(**encoded).logits
        return torch.softmax(logits.float(), dim=-1).numpy()
