"""What to label next: score unlabelled sentences with a trained model and pick the ones it is
least sure about, spread over different articles and wordings.

Uncertainty is the margin between the model's two most probable labels (1 - margin, so higher
is less sure). Diversity is greedy: each pick maximises uncertainty x (1 - the highest TF-IDF
cosine similarity to a sentence already picked), with a cap per article and near-duplicates
skipped, so 50 suggestions are not 50 rewordings of one threat.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from model.articles import article_files, load_articles
from model.atomic_files import write_text_atomic
from model.classifier import StanceClassifier
from model.context import context_segment, keyed_neighbours, neighbours
from model.json_lines import read_json_lines
from model.sentences import split_sentences
from training.data import DataError, Record


@dataclass(frozen=True)
class Candidate:
    """One unlabelled sentence with the article context an annotator (and the model) reads."""

    article_id: str
    sentence_id: int
    text: str
    previous: str | None = None
    first: str | None = None


@dataclass(frozen=True)
class Suggestion:
    """A sentence to label, why it was picked, and what the model currently thinks."""

    candidate: Candidate
    uncertainty: float
    predicted: str
    probabilities: dict[str, float]

    def to_json(self) -> dict:
        """The labelling format (docs/LABELS.md) with `label` left empty and the context alongside."""
        c = self.candidate
        return {"article_id": c.article_id, "sentence_id": c.sentence_id, "text": c.text, "label": "", "secondary": None,
                "previous": c.previous, "first": c.first, "uncertainty": round(self.uncertainty, 4),
                "predicted": self.predicted, "probabilities": {k: round(v, 4) for k, v in self.probabilities.items()}}


def _article_candidates(article_id: str, sentences: list[str]) -> list[Candidate]:
    return [Candidate(article_id, i, text, *around) for i, (text, around) in enumerate(zip(sentences, neighbours(sentences)))]


def candidates_from_records(records: list[Record]) -> list[Candidate]:
    """Already split sentences (labelled or not) as candidates, context from their neighbours."""
    by_key = {(r.article_id, r.sentence_id): r.text for r in records}
    return [Candidate(r.article_id, r.sentence_id, r.text, *keyed_neighbours(by_key, r.article_id, r.sentence_id)) for r in records]


def load_unlabelled(path: str | Path) -> list[Candidate]:
    """Articles to mine: a .txt article, a JSONL file of {article_id, text} articles or of already
    split {article_id, sentence_id, text} sentences, or a folder of them (read by model.articles)."""
    candidates: list[Candidate] = []
    for file in article_files(path):
        if file.suffix == ".jsonl" and _holds_sentences(file):
            candidates += candidates_from_records([_unlabelled_sentence(obj, where) for where, obj in read_json_lines(file, DataError)])
            continue
        for article in load_articles(file):
            candidates += _article_candidates(article.article_id, [s.text for s in split_sentences(article.text)])
    if not candidates:
        raise DataError(f"{path}: no sentences found")
    return candidates


def _holds_sentences(file: Path) -> bool:
    """True when the first object of a JSONL file is a split sentence (it has a sentence_id)."""
    first = next(read_json_lines(file, DataError), None)
    return first is not None and "sentence_id" in first[1]


def _unlabelled_sentence(obj: dict, where: str) -> Record:
    for name in ("article_id", "text"):
        if not isinstance(obj.get(name), str) or not obj[name].strip():
            raise DataError(f"{where}: field '{name}' must be a non-empty string")
    sentence_id = obj.get("sentence_id")
    if not isinstance(sentence_id, int) or isinstance(sentence_id, bool) or sentence_id < 0:
        raise DataError(f"{where}: field 'sentence_id' must be a non-negative integer, got {sentence_id!r}")
    return Record(obj["article_id"], sentence_id, obj["text"], "", location=where)


def margin_uncertainty(probabilities: np.ndarray) -> np.ndarray:
    """1 - (top probability - second probability): 1 for a tie, 0 for a sure call."""
    top_two = np.sort(probabilities, axis=1)[:, -2:]
    return 1.0 - (top_two[:, 1] - top_two[:, 0])


def select_diverse(candidates: list[Candidate], uncertainty: np.ndarray, n: int, max_per_article: int | None = None,
                   duplicate_similarity: float = 0.8, pool_factor: int = 5) -> list[int]:
    """Indices of up to `n` candidates, greedily: uncertainty x (1 - max similarity to the picks).

    Only the `pool_factor * n` most uncertain are considered. `max_per_article` defaults to
    twice an even share (at least 2); once every article is at its cap the cap is dropped.
    """
    pool = [int(i) for i in np.argsort(-uncertainty, kind="stable")[:pool_factor * n]]
    if not pool:
        return []
    articles = {candidates[i].article_id for i in pool}
    cap = max_per_article or max(2, math.ceil(2 * n / len(articles)))
    vectors = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform([candidates[i].text for i in pool])
    closest = np.zeros(len(pool))
    available = np.ones(len(pool), dtype=bool)
    per_article: dict[str, int] = {}
    picked: list[int] = []
    while len(picked) < n and available.any():
        under_cap = np.array([per_article.get(candidates[i].article_id, 0) < cap for i in pool])
        allowed = available & under_cap if (available & under_cap).any() else available
        gain = np.where(allowed, uncertainty[pool] * (1.0 - closest), -np.inf)
        best = int(np.argmax(gain))
        picked.append(pool[best])
        per_article[candidates[pool[best]].article_id] = per_article.get(candidates[pool[best]].article_id, 0) + 1
        closest = np.maximum(closest, (vectors @ vectors[best].T).toarray().ravel())
        available[best] = False
        available &= closest < duplicate_similarity
    return picked


def suggest(classifier: StanceClassifier, candidates: list[Candidate], n: int, min_words: int = 3,
            max_per_article: int | None = None) -> list[Suggestion]:
    """The `n` most informative candidates to label next, most useful first."""
    if n < 1:
        raise ValueError(f"the number of suggestions must be at least 1, got {n}")
    usable = [c for c in candidates if len(c.text.split()) >= min_words]
    if not usable:
        return []
    contexts = [context_segment(c.previous, c.first, classifier.context) for c in usable]
    probabilities = classifier.predict_proba([c.text for c in usable], contexts)
    uncertainty = margin_uncertainty(probabilities)
    return [Suggestion(usable[i], float(uncertainty[i]), classifier.labels[int(probabilities[i].argmax())],
                       dict(zip(classifier.labels, probabilities[i].tolist())))
            for i in select_diverse(usable, uncertainty, n, max_per_article)]


def write_suggestions(suggestions: list[Suggestion], path: str | Path) -> None:
    """JSON Lines, one suggestion a line, written atomically."""
    write_text_atomic(path, "".join(json.dumps(s.to_json(), ensure_ascii=False) + "\n" for s in suggestions))
