"""Whole articles, as analysts collect them: plain .txt files (one article each), JSON Lines of
articles (`article_id`, `text`, optional `date`), or a folder of either. The one reader of
unlabelled articles: predict, profile, suggest and distill read through it, and archive scoring
(apps/scoring) applies its decoding rule to every .txt file.

Every error names the file, the line and the field. Dates come in the shapes news archives
use (2019-06-10, 11-APR-1987); one that is not a single day, such as "2004/2005", is kept as
written but does not place the article on a timeline.
"""
from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path

from model.json_lines import read_json_lines

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


def _article_from_json(obj: dict, where: str, default_id: str | None = None) -> Article:
    if default_id is not None and "article_id" not in obj:
        obj = {**obj, "article_id": default_id}
    for name in ("article_id", "text"):
        if not isinstance(obj.get(name), str) or not obj[name].strip():
            raise ArticleFileError(f"{where}: field '{name}' must be a non-empty string"
                                   + ("" if name in obj else " (it is missing)"))
    date = obj.get("date")
    if date is not None and not isinstance(date, str):
        raise ArticleFileError(f"{where}: field 'date' must be a string such as \"2019-06-10\", got {date!r}")
    return Article(obj["article_id"], obj["text"], date.strip() if date and date.strip() else None)


def article_files(path: str | Path) -> list[Path]:
    """The files under `path`: the file itself, or a folder's *.txt then *.jsonl files (each sorted)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.txt")) + sorted(path.glob("*.jsonl"))
        if not files:
            raise ArticleFileError(f"{path}: folder holds no *.txt or *.jsonl files")
        return files
    if not path.is_file():
        raise ArticleFileError(f"{path}: no such file or folder")
    return [path]


def load_articles(path: str | Path, ids_required: bool = True) -> list[Article]:
    """The articles of a file or folder: a .jsonl file holds one per line; any other file is one
    article named by its stem. With `ids_required=False` a JSONL line may omit `article_id`
    (unlabelled text for distillation) and is named "FILE:LINE"."""
    articles = []
    for file in article_files(path):
        if file.suffix != ".jsonl":
            text = read_article(file)
            if not text.strip():
                raise ArticleFileError(f"{file}: the file is empty")
            articles.append(Article(file.stem, text))
            continue
        found = [_article_from_json(obj, where, None if ids_required else where) for where, obj in read_json_lines(file, ArticleFileError)]
        if not found:
            raise ArticleFileError(f"{file}: holds no articles")
        articles += found
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
    return decode_article(data, name, errors)


def decode_article(data: bytes, name: str, errors: str = "strict") -> str:
    """An article's bytes as text: UTF-8, a leading byte-order mark dropped; a bad byte raises
    ArticleDecodeError naming `name`, the byte and its line."""
    try:
        text = data.decode("utf-8", errors=errors)  # not utf-8-sig: its error offsets skip the BOM
        return text[1:] if text.startswith("\ufeff") else text
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ArticleDecodeError(
            f"{name}: byte {error.start} (line {line}) is 0x{data[error.start]:02x}, not valid UTF-8 "
            f"({error.reason}); re-save the file as UTF-8, or pass --errors replace to read on with U+FFFD "
            f"in place of bad bytes") from None

