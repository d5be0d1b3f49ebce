"""How well `split_sentences` recovers reference sentence boundaries in raw articles.

Boundaries are compared in a whitespace-free coordinate system, so line wrapping and
spacing differences do not count as errors; a boundary is where a sentence ends.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from model.json_lines import read_json_lines
from model.sentences import split_sentences
from training.data import DataError


@dataclass
class SplitScore:
    """Boundary precision/recall and exact-sentence matches over a set of articles."""

    articles: int
    reference_sentences: int
    predicted_sentences: int
    boundary_precision: float
    boundary_recall: float
    boundary_f1: float
    exact_sentence_matches: int
    per_article: dict[str, dict[str, int]]


def _squash(text: str) -> str:
    return "".join(text.split())


def _ends(sentences: list[str], article: str) -> set[int]:
    """End offsets (in the squashed article) of sentences found in order in it."""
    ends: set[int] = set()
    cursor = 0
    for sentence in sentences:
        found = article.find(sentence, cursor)
        if found == -1:
            continue
        cursor = found + len(sentence)
        ends.add(cursor)
    return ends


def score_splitting(articles: dict[str, str], reference: dict[str, list[str]]) -> SplitScore:
    """Compare split_sentences on each raw article with its reference sentences."""
    true_pos = n_pred = n_gold = exact = 0
    per_article: dict[str, dict[str, int]] = {}
    for article_id, raw in articles.items():
        gold = [_squash(s) for s in reference.get(article_id, [])]
        if not gold:
            continue
        pred = [_squash(s.text) for s in split_sentences(raw)]
        squashed = _squash(raw)
        gold_ends, pred_ends = _ends(gold, squashed), _ends(pred, squashed)
        hits = len(gold_ends & pred_ends)
        matches = len(set(gold) & set(pred))
        true_pos, n_pred, n_gold, exact = true_pos + hits, n_pred + len(pred_ends), n_gold + len(gold_ends), exact + matches
        per_article[article_id] = {"reference": len(gold), "predicted": len(pred), "boundary_hits": hits, "exact": matches}
    precision = true_pos / n_pred if n_pred else 0.0
    recall = true_pos / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return SplitScore(len(per_article), n_gold, n_pred, precision, recall, f1, exact, per_article)


def score_splitting_files(articles_path: Path, sentences_path: Path) -> SplitScore:
    """Read raw articles (article_id, text) and reference sentences (article_id, text) as JSONL;
    a malformed line raises DataError naming the file, the line and the field."""
    articles = {}
    for _, record in _id_and_text_lines(articles_path):
        articles[record["article_id"]] = record["text"]
    reference: dict[str, list[str]] = defaultdict(list)
    for _, record in _id_and_text_lines(sentences_path):
        reference[record["article_id"]].append(record["text"])
    return score_splitting(articles, reference)


def _id_and_text_lines(path: Path) -> Iterator[tuple[str, dict]]:
    if not Path(path).is_file():
        raise DataError(f"{path}: no such file")
    for where, record in read_json_lines(path, DataError):
        for name in ("article_id", "text"):
            if not isinstance(record.get(name), str):
                raise DataError(f"{where}: field '{name}' must be a string"
                                + ("" if name in record else " (it is missing)"))
        yield where, record
