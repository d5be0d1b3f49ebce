"""Baselines trained on the same training split, so the model's score has something to beat."""
from __future__ import annotations

from collections import Counter
from typing import Sequence

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline


class MajorityBaseline:
    """Always predicts the most frequent training label."""

    name = "majority class"

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> "MajorityBaseline":
        self.label = Counter(labels).most_common(1)[0][0]
        return self

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [self.label] * len(texts)


class TfidfLogisticBaseline:
    """Word and bigram TF-IDF with a class-balanced logistic regression."""

    name = "TF-IDF + logistic regression"

    def __init__(self, seed: int = 0) -> None:
        self.pipeline = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True, lowercase=True),
            LogisticRegression(max_iter=2000, class_weight="balanced", C=4.0, random_state=seed),
        )

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> "TfidfLogisticBaseline":
        self.pipeline.fit(list(texts), list(labels))
        return self

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [str(label) for label in self.pipeline.predict(list(texts))]


def fit_baselines(texts: Sequence[str], labels: Sequence[str], seed: int = 0) -> list:
    return [MajorityBaseline().fit(texts, labels), TfidfLogisticBaseline(seed).fit(texts, labels)]
