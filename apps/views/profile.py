"""An article's stance profile: how many sentences of each stance, the probability-weighted mix,
and one signed escalation score to compare articles and follow a dispute over time.

The escalation score is defined in docs/PROFILE.md:
    escalation = mix[threatening] + 0.5 * mix[dismissive] - mix[conciliatory]
where mix is the mean of the sentences' (calibrated) probabilities. It lies in [-1, 1].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from model.classifier import SentencePrediction, StanceClassifier
from model.labels import LABELS

# How far each stance pushes towards escalation; neutral sentences dilute the score towards 0.
ESCALATION_WEIGHTS = {"threatening": 1.0, "dismissive": 0.5, "conciliatory": -1.0, "neutral": 0.0}


@dataclass(frozen=True)
class ArticleProfile:
    """The stance profile of one article (shares and mix are fractions that sum to 1)."""

    article_id: str
    date: str | None
    sentences: int
    counts: dict[str, int]
    shares: dict[str, float]
    mix: dict[str, float]
    escalation: float

    def to_row(self) -> dict[str, object]:
        """A flat row for CSV: id, date, sentence count, then count_*, share_*, mix_* per label, escalation."""
        row: dict[str, object] = {"article_id": self.article_id, "date": self.date or "", "sentences": self.sentences}
        for prefix, values in (("count", self.counts), ("share", self.shares), ("mix", self.mix)):
            row.update({f"{prefix}_{label}": (values[label] if prefix == "count" else round(values[label], 4))
                        for label in LABELS})
        row["escalation"] = round(self.escalation, 4)
        return row


def escalation_score(mix: dict[str, float]) -> float:
    """Signed escalation in [-1, 1] from a stance mix (docs/PROFILE.md)."""
    return sum(ESCALATION_WEIGHTS[label] * mix.get(label, 0.0) for label in ESCALATION_WEIGHTS)


def profile_predictions(predictions: Sequence[SentencePrediction], article_id: str = "",
                        date: str | None = None) -> ArticleProfile:
    """The profile of an article already labelled by StanceClassifier.predict."""
    n = len(predictions)
    counts = {label: sum(p.label == label for p in predictions) for label in LABELS}
    shares = {label: counts[label] / n if n else 0.0 for label in LABELS}
    mix = {label: sum(p.probabilities[label] for p in predictions) / n if n else 0.0 for label in LABELS}
    return ArticleProfile(article_id, date, n, counts, shares, mix, escalation_score(mix))


def profile_article(classifier: StanceClassifier, text: str, article_id: str = "",
                    date: str | None = None, min_confidence: float | None = None) -> ArticleProfile:
    """Label every sentence of `text` and return its profile; with `min_confidence`, sentences the
    model is less sure of count as neutral (as `predict` labels them)."""
    return profile_predictions(classifier.predict(text, min_confidence=min_confidence), article_id, date)
