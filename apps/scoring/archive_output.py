"""The output folder of a scoring job: sentence rows in part files, committed one at a time.

A part is written under a temporary name and renamed, and only then is it recorded in
_manifest.jsonl (with the ids of the articles it completes). The manifest is the truth: on
--resume, articles it lists are skipped, and a part it does not list (the run died between the
rename and the record) is deleted and its articles scored again. So an interrupted job never
leaves half a part, and a resumed one neither loses nor repeats an article. Files whose names
start with "_" or "." are skipped by Parquet readers, so `pandas.read_parquet(OUT)` reads the
parts alone.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from apps.scoring.archive_input import BadArticle
from apps.views.sentence_rows import FIRST_SENTENCE
from model.atomic_files import replaced_atomically, write_text_atomic
from model.classifier import SentencePrediction

FORMATS = {".parquet": "parquet", ".jsonl": "jsonl"}
JOB_FILE = "_job.json"
MANIFEST_FILE = "_manifest.jsonl"
ERRORS_FILE = "_errors.jsonl"
SUMMARY_FILE = "_summary.json"
FIXED_COLUMNS = ("article_id", "sentence_id", "start", "end", "text", "label")
# Job settings that must match for --resume to append to a folder: parts from another model or
# another input would mix silently.
RESUME_KEYS = ("model_dir", "labels", "input", "format")


class ArchiveOutputError(ValueError):
    """The output folder cannot be used: wrong extension, exists without --resume, other job."""


@dataclass(frozen=True)
class ScoredArticle:
    """An article's sentences with their labels, ready to be written as rows."""

    article_id: str
    extra: dict
    predictions: list[SentencePrediction]


def sentence_rows(scored: ScoredArticle, labels: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per sentence: ids (sentence_id from FIRST_SENTENCE, as in `stance predict`), span, text, label,
    p_<label> for every label, carried fields."""
    carried = carried_fields(scored.extra, labels)
    return [{"article_id": scored.article_id, "sentence_id": i, "start": p.start, "end": p.end, "text": p.text,
             "label": p.label, **{f"p_{label}": p.probabilities[label] for label in labels}, **carried}
            for i, p in enumerate(scored.predictions, start=FIRST_SENTENCE)]


def carried_fields(extra: dict[str, Any], labels: tuple[str, ...]) -> dict[str, Any]:
    """An article's other input fields under their output names: one that an output column
    already has is renamed article_<name>."""
    taken = set(FIXED_COLUMNS) | {f"p_{label}" for label in labels}
    return {(f"article_{key}" if key in taken else key): value for key, value in extra.items()}


class ScoreOutput:
    """Collects scored articles and commits them as parts of about `part_articles` articles."""

    def __init__(self, out: str | Path, job: dict[str, Any], resume: bool = False, part_articles: int = 500,
                 part_sentences: int = 50_000) -> None:
        self.out = Path(out)
        if self.out.suffix not in FORMATS:
            raise ArchiveOutputError(f"output {self.out} must end in .parquet or .jsonl (a folder of part files of that format)")
        self.format = FORMATS[self.out.suffix]
        self.labels: tuple[str, ...] = tuple(job["labels"])
        self.part_articles = part_articles
        self.part_sentences = part_sentences
        self.done_ids: set[str] = set()
        self.committed_articles = 0
        self.committed_sentences = 0
        self.errors = 0
        self._next_part = 0
        self._pending: list[ScoredArticle] = []
        self._pending_sentences = 0
        self._open(job, resume)
        # Every run re-reads the whole input, and bad records are never marked done, so each run
        # finds all of them again: the errors file is started afresh rather than appended to.
        self._errors: TextIO = (self.out / ERRORS_FILE).open("w", encoding="utf-8")

    def _open(self, job: dict[str, Any], resume: bool) -> None:
        if self.out.exists() and not self.out.is_dir():
            raise ArchiveOutputError(f"output {self.out} exists and is not a folder")
        if self.out.is_dir() and any(self.out.iterdir()):
            if not resume:
                raise ArchiveOutputError(f"output {self.out} already exists; pass --resume to continue that job, "
                                         f"or remove it to start again")
            self._check_same_job(job)
            self._load_manifest()
            return
        self.out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.out / JOB_FILE, json.dumps(job, indent=2) + "\n")

    def _check_same_job(self, job: dict[str, Any]) -> None:
        path = self.out / JOB_FILE
        if not path.is_file():
            raise ArchiveOutputError(f"{self.out} has no {JOB_FILE}: it was not written by `stance score`")
        previous = json.loads(path.read_text(encoding="utf-8"))
        for key in RESUME_KEYS:
            if previous.get(key) != job.get(key):
                raise ArchiveOutputError(f"cannot resume {self.out}: it was started with {key} {previous.get(key)!r}, "
                                         f"this run has {job.get(key)!r}")

    def _load_manifest(self) -> None:
        manifest = self.out / MANIFEST_FILE
        lines = manifest.read_text(encoding="utf-8").splitlines() if manifest.is_file() else []
        committed: set[str] = set()
        kept: list[str] = []
        for number, line in enumerate(lines, start=1):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):  # the run died while appending it: that part is not committed
                    break
                raise ArchiveOutputError(f"{manifest}:{number}: not valid JSON; the manifest is damaged") from None
            kept.append(line)
            committed.add(entry["part"])
            self.done_ids.update(entry["articles"])
            self.committed_articles += len(entry["articles"])
            self.committed_sentences += entry["sentences"]
            self._next_part = max(self._next_part, _part_index(entry["part"]) + 1)
        write_text_atomic(manifest, "".join(f"{line}\n" for line in kept))
        for path in self.out.iterdir():
            uncommitted_part = path.name.startswith("part-") and path.name not in committed
            if uncommitted_part or path.name.endswith(".tmp"):
                path.unlink()

    def record_error(self, bad: BadArticle) -> None:
        """Append a bad record to _errors.jsonl, flushed at once so a long job shows it."""
        entry = {"source": bad.source, "line": bad.line, "article_id": bad.article_id, "reason": bad.reason}
        self._errors.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._errors.flush()
        self.errors += 1

    def add(self, scored: ScoredArticle) -> None:
        """Queue an article; a part is committed once enough articles or sentences are queued."""
        self._pending.append(scored)
        self._pending_sentences += len(scored.predictions)
        if len(self._pending) >= self.part_articles or self._pending_sentences >= self.part_sentences:
            self.commit()

    def commit(self) -> None:
        """Write the queued articles as the next part, then record it in the manifest."""
        if not self._pending:
            return
        name = f"part-{self._next_part:05d}.{self.format}"
        with replaced_atomically(self.out / name) as scratch:
            sentences = self._write_part(scratch)
        ids = [scored.article_id for scored in self._pending]
        with (self.out / MANIFEST_FILE).open("a", encoding="utf-8") as manifest:
            manifest.write(json.dumps({"part": name, "articles": ids, "sentences": sentences}, ensure_ascii=False) + "\n")
            manifest.flush()
            os.fsync(manifest.fileno())
        self.done_ids.update(ids)
        self.committed_articles += len(ids)
        self.committed_sentences += sentences
        self._next_part += 1
        self._pending, self._pending_sentences = [], 0

    def _write_part(self, path: Path) -> int:
        """Write the queued articles' rows to `path`; returns the row count."""
        if self.format == "parquet":
            table = _parquet_table(self._pending, self.labels)
            import pyarrow.parquet as pq

            pq.write_table(table, path)
            return table.num_rows
        count = 0
        with path.open("w", encoding="utf-8") as handle:
            for scored in self._pending:
                for row in sentence_rows(scored, self.labels):
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                    count += 1
            handle.flush()
            os.fsync(handle.fileno())
        return count

    def close(self, summary: dict[str, Any]) -> None:
        """Commit what is queued, close the errors file, write _summary.json."""
        self.commit()
        self._errors.close()
        write_text_atomic(self.out / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")

    def abandon(self) -> None:
        """Close the errors file without committing: the queued articles are scored again on --resume."""
        self._errors.close()


def _part_index(name: str) -> int:
    return int(name.split("-")[1].split(".")[0])


def _parquet_table(pending: list[ScoredArticle], labels: tuple[str, ...]):
    """The rows of `pending` built column by column (the driver of a large Ray job writes every
    row, so this is its hot loop). Carried fields become string columns, non-strings JSON-encoded,
    so that a field holding a number in one article and text in the next cannot break a part."""
    import pyarrow as pa

    columns: dict[str, list] = {name: [] for name in FIXED_COLUMNS}
    probabilities: list[list[float]] = [[] for _ in labels]
    carried: dict[str, list] = {}
    rows = 0
    for scored in pending:
        n = len(scored.predictions)
        columns["article_id"] += [scored.article_id] * n
        columns["sentence_id"] += range(FIRST_SENTENCE, FIRST_SENTENCE + n)
        for p in scored.predictions:
            columns["start"].append(p.start)
            columns["end"].append(p.end)
            columns["text"].append(p.text)
            columns["label"].append(p.label)
            for k, label in enumerate(labels):
                probabilities[k].append(p.probabilities[label])
        for key, value in carried_fields(scored.extra, labels).items():
            text = value if value is None or isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            carried.setdefault(key, [None] * rows).extend([text] * n)
        rows += n
        for values in carried.values():
            values.extend([None] * (rows - len(values)))
    types = {"article_id": pa.string(), "sentence_id": pa.int32(), "start": pa.int64(), "end": pa.int64(),
             "text": pa.string(), "label": pa.string()}
    arrays = {name: pa.array(values, types[name]) for name, values in columns.items()}
    arrays.update({f"p_{label}": pa.array(probabilities[k], pa.float32()) for k, label in enumerate(labels)})
    arrays.update({name: pa.array(values, pa.string()) for name, values in carried.items()})
    return pa.table(arrays)


def read_score_rows(out: str | Path) -> list[dict[str, Any]]:
    """Every sentence row of a job's committed parts, in part order (for checks and small jobs;
    a large job is better read with pandas or pyarrow.dataset)."""
    out = Path(out)
    parts = [json.loads(line)["part"] for line in (out / MANIFEST_FILE).read_text(encoding="utf-8").splitlines()]
    rows: list[dict[str, Any]] = []
    for part in parts:
        if part.endswith(".jsonl"):
            rows.extend(json.loads(line) for line in (out / part).read_text(encoding="utf-8").splitlines())
        else:
            import pyarrow.parquet as pq

            rows.extend(pq.read_table(out / part).to_pylist())
    return rows
