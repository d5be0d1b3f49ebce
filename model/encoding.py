"""Sentences to model inputs with the fast (Rust) tokenizer: one call per chunk of sentences,
arrays padded per batch to that batch's longest sentence.

It reads tokenizer.json directly rather than through transformers, so that serving from ONNX
neither imports nor waits for transformers and torch.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from model.model_dir import TOKENIZER_FILE

# A Python str may hold lone UTF-16 surrogates (from a bad decode upstream); the Rust tokenizer
# rejects them, so they are read as U+FFFD, the replacement character.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Sentences whose truncation `encode` remembers (see SentenceEncoder.truncated): more than the
# sentences of the largest forward-pass call a server makes while other callers are labelling theirs.
RECENT_TRUNCATION = 8192


@dataclass(frozen=True)
class EncodedSentences:
    """Token ids of a chunk of sentences, padded to the chunk's longest; `lengths` counts real tokens."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    lengths: np.ndarray

    def batch(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Inputs for the sentences at `rows`, cut to the longest of them (dynamic padding)."""
        width = int(self.lengths[rows].max())
        return {"input_ids": self.input_ids[rows, :width],
                "attention_mask": self.attention_mask[rows, :width],
                "token_type_ids": self.token_type_ids[rows, :width]}


class SentenceEncoder:
    """Tokenises sentences for the classifier, truncating each to `max_length` tokens.

    Truncation and padding are set once here and never changed, so concurrent `encode` calls
    from several threads share the tokenizer safely.
    """

    def __init__(self, tokenizer: Tokenizer, max_length: int, pad_token: str | None = None) -> None:
        # A private copy: the caller's tokenizer (e.g. the one training uses) keeps its own settings.
        self._tokenizer = Tokenizer.from_str(tokenizer.to_str())
        self._tokenizer.enable_truncation(max_length)
        padding = self._tokenizer.padding or {}
        pad_token = padding.get("pad_token") or pad_token or "[PAD]"
        pad_id = self._tokenizer.token_to_id(pad_token)
        if pad_id is None:
            raise ValueError(f"the tokenizer has no padding token {pad_token!r}")
        self._tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token, pad_type_id=padding.get("pad_type_id", 0))
        # Counts tokens before truncation, to tell the caller which sentences the model saw only in part.
        self._counter = Tokenizer.from_str(tokenizer.to_str())
        self._counter.no_truncation()
        self._counter.no_padding()
        self.max_length = max_length
        self._recent: dict[str, bool] = {}
        self._recent_lock = threading.Lock()

    @classmethod
    def from_file(cls, model_dir: str | Path, max_length: int) -> "SentenceEncoder":
        """The tokenizer saved in a model directory (tokenizer.json, pad token from tokenizer_config.json)."""
        path = Path(model_dir)
        config = path / "tokenizer_config.json"
        pad_token = json.loads(config.read_text(encoding="utf-8")).get("pad_token") if config.is_file() else None
        if isinstance(pad_token, dict):  # older files store an AddedToken as a dict
            pad_token = pad_token.get("content")
        return cls(Tokenizer.from_file(str(path / TOKENIZER_FILE)), max_length, pad_token)

    @classmethod
    def from_transformers(cls, tokenizer, max_length: int) -> "SentenceEncoder":
        """Wrap a transformers fast tokenizer (what training holds) without changing it."""
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise TypeError(f"{type(tokenizer).__name__} is not a fast tokenizer; save the model with a tokenizer.json")
        return cls(backend, max_length, tokenizer.pad_token)

    def encode(self, sentences: list[str], contexts: list[str] | None = None) -> EncodedSentences:
        """Tokenise all `sentences` in one call (parallel in Rust) into int64 arrays.

        With `contexts`, each sentence is paired with its context as the second segment (the
        same ids `tokenizer(sentences, contexts)` gives in training); longest-first truncation.
        """
        if contexts is not None and len(contexts) != len(sentences):
            raise ValueError(f"{len(sentences)} sentences but {len(contexts)} contexts")
        encodings = self._tokenizer.encode_batch(_tokenizable(sentences) if contexts is None
                                               else list(zip(_tokenizable(sentences), _tokenizable(contexts))))
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        if contexts is None:
            self._remember_truncation(sentences, [bool(e.overflowing) for e in encodings])
        return EncodedSentences(
            input_ids=np.array([e.ids for e in encodings], dtype=np.int64),
            attention_mask=mask,
            token_type_ids=np.array([e.type_ids for e in encodings], dtype=np.int64),
            lengths=mask.sum(axis=1),
        )

    def truncated(self, sentences: list[str]) -> np.ndarray:
        """True for each sentence longer than `max_length` tokens, which the model reads only the start of.

        `predict` asks this right after `predict_proba` encoded the same sentences (and the HTTP
        server right after its batcher's call did), so the answer for a sentence encoded alone
        lately is taken from that encoding; only the others are tokenised again, untruncated.
        """
        tokenizable = _tokenizable(sentences)
        with self._recent_lock:
            known = [self._recent.get(s) for s in sentences]
        missing = [i for i, flag in enumerate(known) if flag is None]
        if missing:
            counted = self._counter.encode_batch([tokenizable[i] for i in missing])
            for i, encoding in zip(missing, counted):
                known[i] = len(encoding.ids) > self.max_length
        return np.array(known, dtype=bool)

    def _remember_truncation(self, sentences: list[str], overflowed: list[bool]) -> None:
        # A sentence encoded alone overflows exactly when its tokens, special tokens included,
        # are more than max_length: the count `truncated` would compare.
        with self._recent_lock:
            self._recent.update(zip(sentences, overflowed))
            for _ in range(len(self._recent) - RECENT_TRUNCATION):
                del self._recent[next(iter(self._recent))]


def _tokenizable(sentences: list[str]) -> list[str]:
    """The sentences as the tokenizer accepts them; a TypeError names the first that is not a str."""
    for index, sentence in enumerate(sentences):
        if not isinstance(sentence, str):
            raise TypeError(f"sentence {index} is a {type(sentence).__name__}, not a str")
    return [s if s.isascii() else _LONE_SURROGATE.sub("\ufffd", s) for s in sentences]
