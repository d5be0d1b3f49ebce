"""Labelled sentences in, validated records and article-grouped splits out.

Records are JSON Lines, one sentence per line, in article order (docs/LABELS.md). Every error
names the file, the line and the field, because a corpus is edited by hand.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from datasets import Dataset

from model.context import context_segment, keyed_neighbours
from model.json_lines import read_json_lines
from model.labels import LABEL_TO_ID, LABELS, outranks

REQUIRED_FIELDS = ("article_id", "sentence_id", "text", "label")


class DataError(ValueError):
    """A data file is missing or holds a malformed record."""


@dataclass(frozen=True)
class Record:
    """One labelled sentence, with where it came from."""

    article_id: str
    sentence_id: int
    text: str
    label: str
    secondary: str | None = None
    meta: dict = field(default_factory=dict, compare=False, hash=False)
    location: str = field(default="", compare=False, hash=False)


@dataclass
class Splits:
    """Train/dev/test records; no article appears in two of them."""

    train: list[Record]
    dev: list[Record]
    test: list[Record]

    def article_ids(self) -> dict[str, list[str]]:
        return {name: sorted({r.article_id for r in getattr(self, name)}) for name in ("train", "dev", "test")}


def data_files(path: str | Path) -> list[Path]:
    """A JSONL file, or every *.jsonl file (sorted) in a directory."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if not files:
            raise DataError(f"{path}: directory holds no *.jsonl files")
        return files
    if not path.is_file():
        raise DataError(f"{path}: no such file or directory")
    return [path]


def _parse_record(obj: dict, where: str) -> Record:
    for name in REQUIRED_FIELDS:
        if name not in obj:
            raise DataError(f"{where}: field '{name}' is missing")
    if not isinstance(obj["article_id"], str) or not obj["article_id"].strip():
        raise DataError(f"{where}: field 'article_id' must be a non-empty string")
    if not isinstance(obj["sentence_id"], int) or isinstance(obj["sentence_id"], bool) or obj["sentence_id"] < 0:
        raise DataError(f"{where}: field 'sentence_id' must be a non-negative integer, got {obj['sentence_id']!r}")
    if not isinstance(obj["text"], str) or not obj["text"].strip():
        raise DataError(f"{where}: field 'text' must be a non-empty string")
    if obj["label"] not in LABEL_TO_ID:
        raise DataError(f"{where}: field 'label' is {obj['label']!r}; expected one of {', '.join(LABELS)}")
    secondary = obj.get("secondary")
    if secondary is not None:
        if secondary not in LABEL_TO_ID:
            raise DataError(f"{where}: field 'secondary' is {secondary!r}; expected null or one of {', '.join(LABELS)}")
        if not outranks(obj["label"], secondary):
            raise DataError(f"{where}: field 'secondary' ({secondary}) must rank below the primary label ({obj['label']}) by precedence")
    meta = {k: v for k, v in obj.items() if k not in REQUIRED_FIELDS and k != "secondary"}
    return Record(obj["article_id"], obj["sentence_id"], obj["text"], obj["label"], secondary, meta, where)


def load_records(path: str | Path) -> list[Record]:
    """Read and validate every record under `path`; raise DataError on the first bad one."""
    records: list[Record] = []
    seen: dict[tuple[str, int], str] = {}
    article_files: dict[str, Path] = {}
    for file in data_files(path):
        for where, obj in read_json_lines(file, DataError):
            record = _parse_record(obj, where)
            key = (record.article_id, record.sentence_id)
            if key in seen:
                raise DataError(f"{record.location}: field 'sentence_id' {record.sentence_id} repeats article {record.article_id!r} (first at {seen[key]})")
            seen[key] = record.location
            first_file = article_files.setdefault(record.article_id, file)
            if first_file != file:
                raise DataError(f"{record.location}: field 'article_id' {record.article_id!r} already names an article in "
                                f"{first_file}; an article must sit in one file (two articles with one id would be split as one)")
            records.append(record)
    if not records:
        raise DataError(f"{path}: no records")
    return records


def to_dataset(records: list[Record], contexts: list[str] | None = None) -> Dataset:
    """A `datasets.Dataset` with text, integer label and article id columns (and context, if given)."""
    columns = {
        "text": [r.text for r in records],
        "label": [LABEL_TO_ID[r.label] for r in records],
        "article_id": [r.article_id for r in records],
    }
    if contexts is not None:
        columns["context"] = contexts
    return Dataset.from_dict(columns)


def split_by_article(records: list[Record], dev_fraction: float, test_fraction: float, seed: int,
                     dev_fold: int = 0) -> Splits:
    """Shuffle article ids with `seed` and cut them into train/dev/test by the given shares.

    The test block comes first; dev is the `dev_fold`-th block of its size after it, so the folds
    of one seed are disjoint sets of articles (for article-grouped cross-validation)."""
    articles = sorted({r.article_id for r in records})
    random.Random(seed).shuffle(articles)
    n_test = round(len(articles) * test_fraction)
    n_dev = round(len(articles) * dev_fraction)
    if test_fraction > 0 and n_test == 0 or dev_fraction > 0 and n_dev == 0 or len(articles) - n_test - n_dev < 1:
        raise DataError(f"{len(articles)} articles are too few for dev_fraction={dev_fraction} and test_fraction={test_fraction}")
    folds = (len(articles) - n_test) // n_dev if n_dev else 1
    if dev_fold >= folds:
        raise DataError(f"dev fold {dev_fold} does not exist: {len(articles) - n_test} articles make {folds} "
                        f"folds of {n_dev} (dev_fraction={dev_fraction}); folds are numbered from 0")
    start = n_test + dev_fold * n_dev
    test_ids, dev_ids = set(articles[:n_test]), set(articles[start:start + n_dev])
    return Splits(
        train=[r for r in records if r.article_id not in test_ids | dev_ids],
        dev=[r for r in records if r.article_id in dev_ids],
        test=[r for r in records if r.article_id in test_ids],
    )


def subsample_articles(records: list[Record], fraction: float, seed: int) -> list[Record]:
    """Keep a seeded `fraction` of the articles (whole articles), for learning curves."""
    if fraction >= 1:
        return records
    articles = sorted({r.article_id for r in records})
    random.Random(seed + 1).shuffle(articles)
    kept = set(articles[:max(1, round(len(articles) * fraction))])
    return [r for r in records if r.article_id in kept]


def label_counts(records: list[Record]) -> dict[str, int]:
    counts = Counter(r.label for r in records)
    return {label: counts.get(label, 0) for label in LABELS}


def record_contexts(records: list[Record], mode: str) -> dict[tuple[str, int], str]:
    """Each record's context segment (model.context) from its article's neighbouring records.

    A record may carry its own context instead, as `stance suggest` writes it: `previous`
    (the sentence before) and `first` (the article's first sentence), since the sentences
    around a suggested one are usually not labelled and so not in the file.
    """
    by_key = {(r.article_id, r.sentence_id): r.text for r in records}
    contexts = {}
    for r in records:
        previous, first = keyed_neighbours(by_key, r.article_id, r.sentence_id)
        previous = r.meta["previous"] if isinstance(r.meta.get("previous"), str) else previous
        first = r.meta["first"] if isinstance(r.meta.get("first"), str) else first
        contexts[(r.article_id, r.sentence_id)] = context_segment(previous, first if r.sentence_id > 0 else None, mode)
    return contexts


def contexts_for(records: list[Record], mode: str) -> list[str] | None:
    """The context segment of each record, in order; None when the mode is 'none'."""
    if mode == "none":
        return None
    contexts = record_contexts(records, mode)
    return [contexts[(r.article_id, r.sentence_id)] for r in records]
