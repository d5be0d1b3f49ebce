"""Teacher probabilities for unlabelled articles, stored without the articles' text.

The pool of real articles is third-party text that must stay outside the repository, yet the
main job should learn from a large teacher without running it (that takes longer than the whole
job). A teacher-labels file keys every sentence by article id, character span and a hash of the
sentence; the text is joined back from the articles file at load time. A sentence whose hash no
longer matches (an edited article, another file of the same name) is dropped rather than trained
on a target that belongs to other words.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from model.articles import Article
from model.atomic_files import write_text_atomic
from model.classifier import StanceClassifier
from model.json_lines import read_json_lines
from model.labels import LABELS
from model.sentences import split_sentences

FORMAT = "stance-teacher-labels/1"
SCORING_CHUNK = 512


class TeacherLabelsError(ValueError):
    """A teacher-labels file is missing, malformed, or does not fit the articles it names."""


def sentence_digest(text: str) -> str:
    """A short, stable fingerprint of a sentence: enough to notice changed text, too short to hold it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class TeacherLabel:
    """One sentence's place in its article and the teacher's probabilities (columns in LABELS order)."""

    article_id: str
    start: int
    end: int
    digest: str
    probabilities: tuple[float, ...]


@dataclass
class TeacherLabels:
    """A teacher's probabilities for every sentence of an articles file."""

    teacher: str
    articles_file: str
    rows: list[TeacherLabel] = field(default_factory=list)


@dataclass
class JoinedSentences:
    """Teacher-labelled sentences with their text restored, and what could not be restored."""

    article_ids: list[str]
    texts: list[str]
    probabilities: np.ndarray  # (n, len(LABELS))
    missing_articles: int
    changed_sentences: int


def label_articles(teacher: StanceClassifier | Sequence[StanceClassifier], articles: Iterable[Article], teacher_name: str,
                   articles_file: str, progress: bool = True) -> TeacherLabels:
    """Split every article with the product's splitter and record the teacher's probabilities.

    Several teachers (the members of a seed ensemble) give the mean of their calibrated
    probabilities: one seed's quirks on a sentence are averaged out of the student's target.
    """
    teachers = [teacher] if isinstance(teacher, StanceClassifier) else list(teacher)
    if not teachers:
        raise ValueError("label_articles needs at least one teacher")
    places, texts = [], []
    for article in articles:
        for sentence in split_sentences(article.text):
            places.append((article.article_id, sentence.start, sentence.end))
            texts.append(sentence.text)
    rows = []
    for first in tqdm(range(0, len(texts), SCORING_CHUNK), desc="teacher labelling", unit="chunk", disable=not progress):
        chunk = texts[first:first + SCORING_CHUNK]
        probabilities = np.mean([t.predict_proba(chunk)[:, [t.labels.index(label) for label in LABELS]] for t in teachers], axis=0)
        for (article_id, start, end), text, p in zip(places[first:first + SCORING_CHUNK], chunk, probabilities):
            rows.append(TeacherLabel(article_id, start, end, sentence_digest(text), tuple(float(f"{x:.4g}") for x in p)))
    return TeacherLabels(teacher_name, articles_file, rows)


def write_teacher_labels(labels: TeacherLabels, path: str | Path) -> None:
    """One header line (format, teacher, label order), then one line per sentence; written atomically."""
    header = {"format": FORMAT, "teacher": labels.teacher, "articles_file": labels.articles_file,
              "labels": list(LABELS), "sentences": len(labels.rows)}
    lines = [json.dumps(header)] + [
        json.dumps({"article_id": r.article_id, "start": r.start, "end": r.end, "sha256_16": r.digest,
                    "p": list(r.probabilities)}) for r in labels.rows]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "\n".join(lines) + "\n")


def _row(obj: dict, where: str) -> TeacherLabel:
    for name, kind in (("article_id", str), ("start", int), ("end", int), ("sha256_16", str), ("p", list)):
        if not isinstance(obj.get(name), kind) or isinstance(obj.get(name), bool):
            raise TeacherLabelsError(f"{where}: field '{name}' must be {kind.__name__}"
                                     + ("" if name in obj else " (it is missing)"))
    p = obj["p"]
    if len(p) != len(LABELS) or not all(isinstance(x, (int, float)) and 0 <= x <= 1 for x in p):
        raise TeacherLabelsError(f"{where}: field 'p' must hold {len(LABELS)} probabilities in [0, 1]")
    if not 0 <= obj["start"] < obj["end"]:
        raise TeacherLabelsError(f"{where}: fields 'start' and 'end' must satisfy 0 <= start < end")
    return TeacherLabel(obj["article_id"], obj["start"], obj["end"], obj["sha256_16"], tuple(float(x) for x in p))


def read_teacher_labels(path: str | Path) -> TeacherLabels:
    """Parse a file written by `write_teacher_labels`; every error names the file and line."""
    path = Path(path)
    if not path.is_file():
        raise TeacherLabelsError(f"teacher-labels file {path} does not exist")
    labels = None
    for where, obj in read_json_lines(path, TeacherLabelsError):
        if labels is None:
            if obj.get("format") != FORMAT:
                raise TeacherLabelsError(f"{where}: the first line must be a header with \"format\": \"{FORMAT}\"")
            if obj.get("labels") != list(LABELS):
                raise TeacherLabelsError(f"{where}: field 'labels' must be {list(LABELS)}, got {obj.get('labels')!r}")
            labels = TeacherLabels(str(obj.get("teacher", "")), str(obj.get("articles_file", "")))
            continue
        labels.rows.append(_row(obj, where))
    if labels is None or not labels.rows:
        raise TeacherLabelsError(f"{path}: holds no teacher labels")
    return labels


def join_text(labels: TeacherLabels, articles: Iterable[Article]) -> JoinedSentences:
    """Restore each labelled sentence's text from its article by span, keeping those whose hash matches."""
    texts_by_id = {article.article_id: article.text for article in articles}
    ids, texts, probabilities = [], [], []
    missing, changed = set(), 0
    for row in labels.rows:
        text = texts_by_id.get(row.article_id)
        if text is None:
            missing.add(row.article_id)
            continue
        sentence = text[row.start:row.end]
        if sentence_digest(sentence) != row.digest:
            changed += 1
            continue
        ids.append(row.article_id)
        texts.append(sentence)
        probabilities.append(row.probabilities)
    array = np.asarray(probabilities, dtype=np.float32).reshape(-1, len(LABELS))
    if len(array):
        array = array / array.sum(axis=1, keepdims=True)  # undo the rounding's drift from 1
    return JoinedSentences(ids, texts, array, len(missing), changed)
