"""StanceClassifier: a trained model directory turned into a prediction function.

Serving needs only this package: it imports nothing from training/ or eval/. The model runs on
PyTorch or, where an exported ONNX file and onnxruntime are present, on ONNX Runtime; torch and
transformers are imported only by the PyTorch path.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, Sequence, runtime_checkable

import numpy as np

from model.calibration import LogitCalibration
from model.context import CONTEXT_MODES, article_contexts
from model.encoding import SentenceEncoder
from model.explanation import Explanation, explain_by_occlusion
from model.pass_plan import PASS_COST_TOKENS, plan_passes
from model.model_dir import (CONFIG_FILE, INT8_FILE, ONNX_FILE, TOKENIZER_FILE, WEIGHTS_FILE, ModelDirectoryError,
                             read_id2label, read_label_map)
from model.backends.onnx_backend import OnnxBackend, onnxruntime_available
from model.backends.onnx_recheck import RecheckedInt8Backend
from model.safe_weights import refuse_pickled_weights, require_inside
from model.sentences import Sentence, split_sentences

BACKENDS = ("auto", "onnx", "torch")
PRECISIONS = ("auto", "int8", "fp32")
# Sentences tokenised per call: enough for the Rust tokenizer's parallelism and for sorting by
# length, few enough that the padded id arrays stay a few MB however long the input list is.
ENCODE_CHUNK = 4096


@dataclass(frozen=True)
class SentencePrediction:
    """The stance of one sentence of an article, with its span in the input text."""

    text: str
    start: int
    end: int
    label: str
    probabilities: dict[str, float]
    abstained: bool = False  # True when the top probability fell below predict's min_confidence
    # True when the sentence is longer than the model's window and was labelled from its start.
    truncated: bool = False


@runtime_checkable
class InferenceBackend(Protocol):
    """What runs the network: label names, and logits for a batch of encoded sentences."""

    name: str
    labels: tuple[str, ...]

    def logits(self, inputs: dict[str, np.ndarray]) -> np.ndarray: ...


class StanceClassifier:
    """Labels sentences as neutral, conciliatory, dismissive or threatening.

    Inference is batched, sorted by token count and cut into passes of at most `batch_size`
    where padding and per-pass cost are least (model/pass_plan.py), and gradient-free;
    results come back in input order. One instance may be shared across threads.
    """

    def __init__(self, model, tokenizer, max_length: int = 128, batch_size: int = 64, context: str = "none") -> None:
        """`model`: an InferenceBackend, or a transformers model (as training holds it);
        `tokenizer`: a SentenceEncoder, or a transformers fast tokenizer; `context`: the
        model.context mode it was trained with (the previous/first sentence as second segment)."""
        if context not in CONTEXT_MODES:
            raise ValueError(f"context must be one of {', '.join(CONTEXT_MODES)}, got {context!r}")
        if not isinstance(model, InferenceBackend):
            from model.backends.torch_backend import TorchBackend

            model = TorchBackend(model)
        if not isinstance(tokenizer, SentenceEncoder):
            tokenizer = SentenceEncoder.from_transformers(tokenizer, max_length)
        self.backend: InferenceBackend = model
        self.encoder = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        # The fixed cost of a pass in tokens (model/pass_plan.py); a caller may set its own.
        self.pass_cost_tokens = PASS_COST_TOKENS
        self.context = context
        self.labels: tuple[str, ...] = model.labels
        self.calibration = LogitCalibration()  # from_pretrained reads the model directory's calibration.json

    @classmethod
    def from_pretrained(cls, model_dir: str | Path, max_length: int | None = None, batch_size: int = 64,
                        backend: Literal["auto", "onnx", "torch"] = "auto",
                        precision: Literal["auto", "int8", "fp32"] = "auto", threads: int | None = None) -> "StanceClassifier":
        """Load a directory written by `stance train` (weights, tokenizer, label map).

        backend="auto" runs the int8 ONNX model when `stance export --int8` wrote one and
        onnxruntime is installed, else PyTorch. With backend="onnx", `precision` picks the file:
        "auto" takes int8 with near ties rechecked by the fp32 file (model/backends/onnx_recheck.py) when
        both files are there, else whichever is; "int8" is int8 alone (a little faster, ~99% of
        fp32's labels); "fp32" the fp32 file. `threads`: inference threads (default: one per
        physical core; a process that shares the machine with others, e.g. a Ray actor, takes fewer).
        """
        path = Path(model_dir)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if not path.is_dir():
            raise ModelDirectoryError(f"model directory {path} does not exist")
        for required in (CONFIG_FILE, TOKENIZER_FILE):
            if not (path / required).is_file():
                raise ModelDirectoryError(f"model directory {path} lacks {required}; is it the output of `stance train`?")
        label_map = read_label_map(path)
        max_length = max_length or label_map.max_length
        # Read first: each backend needs the calibration map folded into its own file to return raw logits.
        calibration = LogitCalibration.load(path)
        if backend == "auto":
            backend = "onnx" if (path / INT8_FILE).is_file() and onnxruntime_available() else "torch"
        if backend == "onnx" and precision == "auto" and (path / INT8_FILE).is_file() and (path / ONNX_FILE).is_file():
            runner = RecheckedInt8Backend(require_inside(path, path / INT8_FILE), require_inside(path, path / ONNX_FILE),
                                          _labels_from_config(path), threads=threads,
                                          unfold=(calibration.folded_into(INT8_FILE), calibration.folded_into(ONNX_FILE)))
        elif backend == "onnx":
            onnx_file = _onnx_file(path, precision)
            runner = OnnxBackend(onnx_file, _labels_from_config(path), threads=threads,
                                 unfold=calibration.folded_into(onnx_file.name))
        else:
            if not (path / WEIGHTS_FILE).is_file():
                refuse_pickled_weights(path)
                raise ModelDirectoryError(f"model directory {path} lacks {WEIGHTS_FILE}; is it the output of `stance train`?")
            from model.backends.torch_backend import TorchBackend

            runner = TorchBackend.load(path, threads=threads, unfold=calibration.folded_into(WEIGHTS_FILE))
        classifier = cls(runner, SentenceEncoder.from_file(path, max_length), max_length=max_length, batch_size=batch_size,
                         context=label_map.context)
        classifier.calibration = calibration
        return classifier

    def predict(self, article: str, min_confidence: float | None = None) -> list[SentencePrediction]:
        """Split an article into sentences and label each, in order.

        With `min_confidence`, a sentence whose top (calibrated) probability is below it is
        labelled neutral with `abstained=True`: an analyst sees no stance the model is unsure of.
        """
        if not isinstance(article, str):
            raise TypeError(f"predict expects the article text as a str, got {type(article).__name__}")
        _check_min_confidence(min_confidence)
        sentences = split_sentences(article)
        return self.label_sentences(sentences, self.predict_proba([s.text for s in sentences]), min_confidence)

    def label_sentences(self, sentences: Sequence[Sentence], probabilities: np.ndarray,
                        min_confidence: float | None = None) -> list[SentencePrediction]:
        """What `predict` returns for an article's `sentences` (from split_sentences), given their
        probabilities from predict_proba: so that a caller that computes the probabilities
        elsewhere (the HTTP server, in forward passes shared with other requests) labels alike."""
        _check_min_confidence(min_confidence)
        if len(probabilities) != len(sentences):
            raise ValueError(f"label_sentences got {len(sentences)} sentences but {len(probabilities)} rows of probabilities")
        truncated = self.encoder.truncated([s.text for s in sentences])
        best = probabilities.argmax(axis=1)
        abstain = probabilities.max(axis=1) < (min_confidence or 0.0)
        return [
            SentencePrediction(
                text=s.text,
                start=s.start,
                end=s.end,
                label="neutral" if unsure else self.labels[i],
                probabilities=dict(zip(self.labels, row.tolist())),
                abstained=bool(unsure),
                truncated=bool(cut),
            )
            for s, i, row, unsure, cut in zip(sentences, best, probabilities, abstain, truncated)
        ]

    def predict_proba(self, sentences: Sequence[str], contexts: Sequence[str] | None = None) -> np.ndarray:
        """Calibrated probabilities, one row per sentence, columns in the order of `self.labels`."""
        return self.calibration.probabilities(self.predict_logits(sentences, contexts))

    def predict_logits(self, sentences: Sequence[str], contexts: Sequence[str] | None = None) -> np.ndarray:
        """Raw logits (before temperature scaling), one row per sentence, columns in `self.labels` order.

        A model trained with context reads `contexts[i]` beside `sentences[i]` (see
        model.context.context_segment); without `contexts` it takes `sentences` to be the
        consecutive sentences of one article. A model without context ignores `contexts`.
        """
        if isinstance(sentences, str):
            raise TypeError("predict_proba expects a list of sentences; use predict() for an article")
        texts = list(sentences)
        pairs = None
        if self.context != "none":
            pairs = list(contexts) if contexts is not None else article_contexts(texts, self.context)
            if len(pairs) != len(texts):
                raise ValueError(f"predict_proba got {len(texts)} sentences but {len(pairs)} contexts")
        logits = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        for start in range(0, len(texts), ENCODE_CHUNK):
            chunk = slice(start, start + ENCODE_CHUNK)
            encoded = self.encoder.encode(texts[chunk], None if pairs is None else pairs[chunk])
            order = np.argsort(encoded.lengths, kind="stable")
            for first, end in plan_passes(encoded.lengths[order], self.batch_size, self.pass_cost_tokens):
                rows = order[first:end]
                logits[start + rows] = self.backend.logits(encoded.batch(rows))
        return logits

    def explain(self, sentence: str) -> Explanation:
        """The words that pushed `sentence` to its label, by occlusion (model/explanation.py)."""
        return explain_by_occlusion(self, sentence)


def _check_min_confidence(min_confidence: float | None) -> None:
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence!r}")


def _onnx_file(path: Path, precision: str) -> Path:
    """The ONNX file for `precision`, or an error that says how to create it."""
    candidates = {"int8": [INT8_FILE], "fp32": [ONNX_FILE], "auto": [INT8_FILE, ONNX_FILE]}[precision]
    for name in candidates:
        if (path / name).is_file():
            return require_inside(path, path / name)
    flag = "" if precision == "fp32" else " --int8"
    raise ModelDirectoryError(f"model directory {path} has no {' or '.join(candidates)}; "
                              f"run `stance export {path}{flag}` to create it")


def _labels_from_config(path: Path) -> tuple[str, ...]:
    labels = read_id2label(path)
    if not labels:
        raise ModelDirectoryError(f"{path / CONFIG_FILE} has no id2label; is it the output of `stance train`?")
    return labels
