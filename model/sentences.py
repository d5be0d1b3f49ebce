"""Sentence splitting for news text as it really arrives: wire copy wrapped at 70 columns,
scraped pages with breadcrumbs and sentences glued together ("systems.Washington").

pysbd does the general work (abbreviations such as "U.S." and "Mr."); the few rules here fix
what it cannot see: paragraph and headline breaks, sentences glued without a space, ALL-CAPS
subheadings glued to the next sentence, and site boilerplate in front of the first sentence.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from model.pysbd_segmenter import FastSegmenter


@dataclass(frozen=True)
class Sentence:
    """One sentence: its text with whitespace runs collapsed, and its span in the input."""

    text: str
    start: int
    end: int


# A blank line, or a newline followed by an indent, starts a new paragraph.
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n|\n(?=[ \t]{2,}\S)")
# A sentence end inside a paragraph that pysbd missed: in quotes it does not split ("...a
# proposal. It will help...") and glued text has no space ("systems.Washington"). A lower-case
# letter or digit before the stop keeps "U.S. Officials" and initials whole.
_MISSED_BOUNDARY = re.compile(r"(?<=[a-z0-9%)\]])[.!?][”\"’]?\s*(?=[“\"‘]?[A-Z])")
# Titles and short forms after which a glued capital is a name, not a new sentence.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st gen col lt sgt sen rep gov jr sr prof capt maj adm cmdr no vs inc corp co ltd "
    "jan feb mar apr jun jul aug sep sept oct nov dec mt ft m".split()
)
# An ALL-CAPS subheading of two or more words glued to the sentence after it ("PATRIOT OFFERWhile").
_GLUED_SUBHEADING = re.compile(r"([A-Z0-9][A-Z0-9'’&\-]*(?: [A-Z0-9][A-Z0-9'’&\-]*)+)(?=[A-Z][a-z])")
# A wire sign-off on a line of its own is not a sentence.
_SIGN_OFF = frozenset({"reuter", "reuters", "ap", "afp"})
# Site boilerplate before a headline: "date 2019-06-10 Home › Site › Headline".
_BREADCRUMB = re.compile(r"^.*[›»]\s*", re.DOTALL)  # DOTALL: a crumb trail may wrap onto the next line
# A credit or dateline before the first sentence: "(Agency | Site )- ", "LONDON (Reuters) - ".
_CREDIT = re.compile(r"(?:[A-Z][A-Z .,'’]*\s)?\([^()\n]{2,60}\)\s*[-–—]+\s*")


# pysbd's time grows faster than linearly with the length of the text it is given (an 80 kB
# paragraph took 12 s, so a 1 MB one would take many minutes). Longer blocks are cut first, at
# sentence ends no reading could dispute, into pieces of about _PYSBD_CHARS; a piece that stays
# over _MAX_PIECE_CHARS (no such end inside: other scripts, run-on text) is cut at any stop, then
# at whitespace, then every _MAX_PIECE_CHARS characters. Paragraphs of ordinary articles are
# shorter than _PYSBD_CHARS and never cut.
_PYSBD_CHARS = 2000
_MAX_PIECE_CHARS = 10000
_CUT_POINTS = (
    re.compile(r"(?<=[a-z0-9%)\]][.!?])[”\"’]?\s+(?=[“\"‘]?[A-Z])"),  # "…talks. The…", not after "Mr."
    re.compile(r"[.!?。！？…]+[”\"’»)]*\s*"),  # any stop, in any script
    re.compile(r"\s+"),
)

_local = threading.local()


def _segmenter() -> FastSegmenter:
    # A Segmenter keeps the text it is working on in attributes, so threads must not share one.
    if not hasattr(_local, "segmenter"):
        _local.segmenter = FastSegmenter(language="en")
    return _local.segmenter


def split_sentences(text: str) -> list[Sentence]:
    """Split an article into sentences, in order, each with its character span in `text`."""
    sentences: list[Sentence] = []
    spans: list[tuple[int, int]] = []
    for block_start, block_end in _blocks(text):
        for piece_start, piece_end in _bounded_pieces(text, block_start, block_end):
            spans.extend(_pysbd_spans(text, piece_start, piece_end))
    for start, end in spans:
        for piece_start, piece_end in _split_glued(text, start, end):
            sentence = _make_sentence(text, *_strip_boilerplate(text, piece_start, piece_end))
            if sentence is not None:
                sentences.append(sentence)
    return sentences


def _blocks(text: str) -> list[tuple[int, int]]:
    """Paragraphs, with every ALL-CAPS headline line made a block of its own."""
    blocks: list[tuple[int, int]] = []
    cursor = 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        blocks.extend(_split_headline_lines(text, cursor, match.start()))
        cursor = match.end()
    blocks.extend(_split_headline_lines(text, cursor, len(text)))
    return blocks


def _split_headline_lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cursor = start
    line_start = start
    while line_start < end:
        newline = text.find("\n", line_start, end)
        line_end = end if newline == -1 else newline
        if _is_headline(text[line_start:line_end]):
            if cursor < line_start:
                spans.append((cursor, line_start))
            spans.append((line_start, line_end))
            cursor = line_end
        line_start = line_end + 1
    if cursor < end:
        spans.append((cursor, end))
    return spans


def _is_headline(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    return len(line.split()) >= 2 and len(letters) >= 6 and sum(c.isupper() for c in letters) >= 0.85 * len(letters)


def _bounded_pieces(text: str, start: int, end: int, level: int = 0) -> list[tuple[int, int]]:
    """`text[start:end]` cut into pieces short enough for pysbd (see _PYSBD_CHARS)."""
    if end - start <= _PYSBD_CHARS:
        return [(start, end)]
    if level == len(_CUT_POINTS):
        return [(a, min(a + _MAX_PIECE_CHARS, end)) for a in range(start, end, _MAX_PIECE_CHARS)]
    pieces: list[tuple[int, int]] = []
    piece_start = previous = start
    cuts = (m.end() for m in _CUT_POINTS[level].finditer(text, start, end)
            if level or not _after_abbreviation(text, m.start() - 1, start))
    for cut in [*cuts, end]:
        if cut - piece_start > _PYSBD_CHARS and previous > piece_start:
            pieces.append((piece_start, previous))
            piece_start = previous
        previous = cut
    pieces.append((piece_start, end))
    return [bounded for a, b in pieces
            for bounded in ([(a, b)] if b - a <= _MAX_PIECE_CHARS else _bounded_pieces(text, a, b, level + 1))]


def _after_abbreviation(text: str, stop: int, start: int) -> bool:
    """True when the full stop at `stop` ends a title or short form ("Gen.", "Mr."), not a sentence."""
    word = re.search(r"([A-Za-z]+)$", text[max(start, stop - 12):stop])
    return bool(word and word.group(1).lower() in _ABBREVIATIONS)


def _pysbd_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    # Newlines inside a paragraph are line wrapping; a space keeps every offset in place.
    block = text[start:end].replace("\n", " ").replace("\r", " ")
    spans: list[tuple[int, int]] = []
    cursor = 0
    for piece in _segmenter().segment(block):
        piece = piece.strip()
        if not piece:
            continue
        found = block.find(piece, cursor)
        if found == -1:  # pysbd altered the text; fall back to the rest of the block
            spans.append((start + cursor, end))
            return spans
        spans.append((start + found, start + found + len(piece)))
        cursor = found + len(piece)
    return spans


def _split_glued(text: str, start: int, end: int) -> list[tuple[int, int]]:
    cuts = [start]
    for match in _MISSED_BOUNDARY.finditer(text, start, end):
        if not _after_abbreviation(text, match.start(), start):
            cuts.append(match.end())
    cuts.append(end)
    pieces: list[tuple[int, int]] = []
    for a, b in zip(cuts, cuts[1:]):
        heading = _GLUED_SUBHEADING.match(text, a, b)
        if heading and heading.end() < b:
            pieces.append((a, heading.end()))
            a = heading.end()
        if a < b:
            pieces.append((a, b))
    return pieces


def _strip_boilerplate(text: str, start: int, end: int) -> tuple[int, int]:
    piece = text[start:end]
    if piece.count("›") + piece.count("»") >= 2:
        start += _BREADCRUMB.match(piece).end()
    credit = _CREDIT.match(text, start, end)
    if credit:
        start = credit.end()
    return start, end


def _make_sentence(text: str, start: int, end: int) -> Sentence | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if not any(c.isalnum() for c in text[start:end]) or text[start:end].lower() in _SIGN_OFF:
        return None
    return Sentence(" ".join(text[start:end].split()), start, end)
