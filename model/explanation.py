"""Which words pushed a sentence to its label, found by occlusion: drop one word, see how far
the label's probability falls.

A word is occluded whole (all of its subword tokens at once), so the model never sees half a
word and the weights come out per word, the unit an analyst reads. Occlusion needs nothing but
predictions, so it works the same on every backend (torch or ONNX); all the occluded variants
of all the sentences go through the model in one batched call.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

# A word: letters or digits, with inner apostrophes, hyphens and dots ("Kyiv's", "S-400", "U.S").
WORD = re.compile(r"\w+(?:[-'’.]\w+)*")


class ProbabilityModel(Protocol):
    """What occlusion needs from a classifier."""

    labels: tuple[str, ...]

    def predict_proba(self, sentences: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class WordWeight:
    """One word of the sentence and how much removing it lowers the label's probability."""

    word: str
    start: int
    end: int
    weight: float


@dataclass(frozen=True)
class Explanation:
    """A sentence's label and the weight of each of its words, in sentence order.

    A positive weight means the word pushed the sentence towards `label`; negative, away from it.
    """

    sentence: str
    label: str
    probability: float
    words: tuple[WordWeight, ...]

    def top_words(self, k: int = 5, min_weight: float = 0.005) -> list[WordWeight]:
        """The `k` words that pushed hardest towards the label, strongest first; words whose removal
        costs less than `min_weight` of probability are left out as noise."""
        ranked = sorted((w for w in self.words if w.weight >= min_weight), key=lambda w: w.weight, reverse=True)
        return ranked[:k]


def occluded_variants(sentence: str) -> tuple[list[tuple[str, int, int]], list[str]]:
    """The sentence's words with their spans, and the sentence with each word removed in turn."""
    words = [(m.group(), m.start(), m.end()) for m in WORD.finditer(sentence)]
    variants = [" ".join((sentence[:start] + " " + sentence[end:]).split()) for _, start, end in words]
    return words, variants


def explain_sentences(classifier: ProbabilityModel, sentences: Sequence[str]) -> list[Explanation]:
    """One Explanation per sentence; one model call for all sentences and all their variants."""
    if isinstance(sentences, str):
        raise TypeError("explain_sentences expects a list of sentences; use StanceClassifier.explain for one")
    plans = [occluded_variants(s) for s in sentences]
    texts = list(sentences) + [v for _, variants in plans for v in variants]
    if getattr(classifier, "context", "none") == "none":
        probabilities = classifier.predict_proba(texts)
    else:  # the variants are not an article: each is read on its own, with no context
        probabilities = classifier.predict_proba(texts, [""] * len(texts))
    explanations, cursor = [], len(sentences)
    for i, (sentence, (words, variants)) in enumerate(zip(sentences, plans)):
        full = probabilities[i]
        best = int(full.argmax())
        occluded = probabilities[cursor:cursor + len(variants), best]
        cursor += len(variants)
        weights = tuple(WordWeight(word, start, end, float(full[best] - p))
                        for (word, start, end), p in zip(words, occluded))
        explanations.append(Explanation(sentence, classifier.labels[best], float(full[best]), weights))
    return explanations


def explain_by_occlusion(classifier: ProbabilityModel, sentence: str) -> Explanation:
    """Explain one sentence (StanceClassifier.explain)."""
    if not isinstance(sentence, str) or not sentence.strip():
        raise ValueError(f"explain expects one non-empty sentence as a str, got {sentence!r}")
    return explain_sentences(classifier, [sentence])[0]
