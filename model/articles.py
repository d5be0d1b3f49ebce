"""Whole articles to label: plain .txt files (one article each) or JSON Lines of articles
(`article_id`, `text`, optional `date`), as analysts collect them.

Every error names the file, the line and the field. Dates come in the shapes news archives
use (2019-06-10, 11-APR-1987); one that is not a single day, such as "2004/2005", is kept as
written but does not place the article on a timeline.
"""
from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path

from model.json_lines import decode_line, parse_json_object

DECODE_ERRORS = ("strict", "replace")
DATE_FORMATS = ("%Y-%m-%d", "%d-%b-%Y", "%d %B %Y", "%d %b %Y", "%B %d, %Y", "%Y/%m/%d")


class ArticleFileError(ValueError):
    """An article file is missing or holds a malformed article."""


@dataclass(frozen=True)
class Article:
    """One article's text, with the id and date it is reported under."""

    article_id: str
    text: str
    date: str | None = None

    @property
    def day(self) -> dt.date | None:
        """The date as a calendar day, or None when absent or not a single day."""
        return parse_date(self.date) if self.date else None


def parse_date(text: str) -> dt.date | None:
    """A calendar day from one of DATE_FORMATS (case and surrounding space ignored), else None."""
    cleaned = " ".join(text.split())
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(cleaned.title() if "%b" in fmt or "%B" in fmt else cleaned, fmt).date()
        except ValueError:
            continue
    return None


def _article_from_json(raw: str, where: str) -> Article:
    obj = parse_json_object(raw, where, ArticleFileError)
    for name in ("article_id", "text"):
        if not isinstance(obj.get(name), str) or not obj[name].strip():
            raise ArticleFileError(f"{where}: field '{name}' must be a non-empty string"
                                   + ("" if name in obj else " (it is missing)"))
    date = obj.get("date")
    if date is not None and not isinstance(date, str):
        raise ArticleFileError(f"{where}: field 'date' must be a string such as \"2019-06-10\", got {date!r}")
    return Article(obj["article_id"], obj["text"], date.strip() if date and date.strip() else None)


def load_articles(path: str | Path) -> list[Article]:
    """The articles of one file: a .jsonl file holds one per line; any other file is one article named by its stem."""
    path = Path(path)
    if not path.is_file():
        raise ArticleFileError(f"{path}: no such file")
    if path.suffix != ".jsonl":
        text = read_article(path)
        if not text.strip():
            raise ArticleFileError(f"{path}: the file is empty")
        return [Article(path.stem, text)]
    articles = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = decode_line(raw, f"{path}:{number}", ArticleFileError, first=number == 1)
            if line.strip():
                articles.append(_article_from_json(line, f"{path}:{number}"))
    if not articles:
        raise ArticleFileError(f"{path}: holds no articles")
    return articles


class ArticleDecodeError(ArticleFileError):
    """An article file holds bytes that are not UTF-8.

    Articles come from scrapes and old archives in every encoding; Python's own UnicodeDecodeError
    names neither the file nor a line, so `read_article` reports the first bad byte by offset and line.
    """


def read_article(source: str | Path, errors: str = "strict") -> str:
    """The UTF-8 text of file `source` ("-" reads stdin); a leading byte-order mark is dropped."""
    if errors not in DECODE_ERRORS:
        raise ValueError(f"errors must be one of {', '.join(DECODE_ERRORS)}, got {errors!r}")
    if str(source) == "-":
        name, data = "<stdin>", sys.stdin.buffer.read()
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"article file {path} does not exist")
        name, data = str(path), path.read_bytes()
    try:
        text = data.decode("utf-8", errors=errors)  # not utf-8-sig: its error offsets skip the BOM
        return text[1:] if text.startswith("\ufeff") else text
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ArticleDecodeError(
            f"{name}: byte {error.start} (line {line}) is 0x{data[error.start]:02x}, not valid UTF-8 "
            f"({error.reason}); re-save the file as UTF-8, or pass --errors replace to read on with U+FFFD "
            f"in place of bad bytes") from None

