"""Articles of a news archive, read one at a time from JSON Lines or a folder of .txt files.

An archive is too large to check up front, and one bad record must not stop a job that has run
for hours: every problem becomes a `BadArticle` naming the file and line, and reading goes on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from model.articles import ArticleDecodeError, decode_article
from model.json_lines import decode_line, parse_json_object

# A news article is a few thousand characters; a record far past this is a scraping accident
# (a whole site dump in one field), and would hold a worker for minutes and its memory with it.
DEFAULT_MAX_CHARS = 200_000


class ArchiveInputError(ValueError):
    """The input as a whole cannot be read: missing, or neither a JSONL file nor a folder."""


@dataclass(frozen=True)
class Article:
    """One article to score, from file `source` (at `line` for JSONL); `extra` holds the input
    fields other than article_id and text, carried to every sentence row."""

    article_id: str
    text: str
    source: str
    line: int | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BadArticle:
    """A record that cannot be scored, and why; recorded in the job's errors file."""

    source: str
    line: int | None
    reason: str
    article_id: str | None = None


def read_articles(path: str | Path, max_chars: int = DEFAULT_MAX_CHARS) -> Iterator[Article | BadArticle]:
    """Articles in input order from a JSONL file (article_id, text, other fields) or a folder of
    .txt files (the file name without .txt is the article id). An article id seen before is a
    `BadArticle`: the first one is the article, so a resumed job keeps the same one."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise ArchiveInputError(f"input folder {path} has no .txt files")
        return _without_duplicates(_txt_articles(files, max_chars))
    if path.is_file():
        return _without_duplicates(_jsonl_articles(path, max_chars))
    raise ArchiveInputError(f"input {path} does not exist")


def _without_duplicates(records: Iterator[Article | BadArticle]) -> Iterator[Article | BadArticle]:
    first_line: dict[str, int | None] = {}  # ids only, not texts: a few dozen bytes an article
    for record in records:
        if isinstance(record, Article):
            if record.article_id in first_line:
                yield BadArticle(record.source, record.line,
                                 f"duplicate article_id (first on line {first_line[record.article_id]})", record.article_id)
                continue
            first_line[record.article_id] = record.line
        yield record


def _jsonl_articles(path: Path, max_chars: int) -> Iterator[Article | BadArticle]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            where = f"{path}:{number}"
            try:  # the same decoding, checks and messages as every JSONL reader here
                record = parse_json_object(decode_line(raw, where, ArchiveInputError, first=number == 1), where, ArchiveInputError)
            except ArchiveInputError as error:
                yield BadArticle(str(path), number, str(error).removeprefix(f"{where}: "))
                continue
            yield _article_from_record(record, str(path), number, max_chars)


def _article_from_record(record: dict, source: str, line: int, max_chars: int) -> Article | BadArticle:
    article_id = record.get("article_id")
    if isinstance(article_id, int) and not isinstance(article_id, bool):
        article_id = str(article_id)
    if not isinstance(article_id, str) or not article_id.strip():
        return BadArticle(source, line, f"field 'article_id' must be a non-empty string, got {article_id!r}")
    text = record.get("text")
    if not isinstance(text, str):
        return BadArticle(source, line, f"field 'text' must be a string, got {type(text).__name__}", article_id)
    if len(text) > max_chars:
        return BadArticle(source, line, f"field 'text' has {len(text)} characters, more than the limit of {max_chars}", article_id)
    extra = {key: value for key, value in record.items() if key not in ("article_id", "text")}
    return Article(article_id, text, source, line, extra)


def _txt_articles(files: list[Path], max_chars: int) -> Iterator[Article | BadArticle]:
    for file in files:
        too_large = f"more than the limit of {max_chars} characters"
        if file.stat().st_size > 4 * max_chars:  # UTF-8 spends at most 4 bytes a character: too large unread
            yield BadArticle(str(file), None, f"{file.stat().st_size} bytes, {too_large}", file.stem)
            continue
        try:  # the rule of every article reader (model.articles): UTF-8, a byte-order mark dropped
            text = decode_article(file.read_bytes(), str(file))
        except ArticleDecodeError as error:
            yield BadArticle(str(file), None, str(error).removeprefix(f"{file}: ").split("; ")[0], file.stem)
            continue
        if len(text) > max_chars:
            yield BadArticle(str(file), None, f"{len(text)} characters, {too_large}", file.stem)
            continue
        yield Article(file.stem, text, str(file))
