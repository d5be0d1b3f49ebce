import re

import pysbd
import pytest

from conftest import corpus_article_texts
from model.articles import load_articles
from model.pysbd_segmenter import PATTERNS, FastSegmenter, locate_sentences, pysbd_modules


@pytest.fixture
def plain_pysbd(monkeypatch):
    """pysbd's own Segmenter with `re` given back to its modules: the reference to match."""
    FastSegmenter()  # loads the language modules, so that they are given `re` back too
    for module in pysbd_modules():
        monkeypatch.setattr(module, "re", re)
    return pysbd.Segmenter(language="en", clean=False)


def corpus_paragraphs(n: int) -> list[str]:
    # Joined into one paragraph each, so that pysbd has sentence boundaries to find.
    return [text.replace("\n\n", " ") for text in corpus_article_texts(n).values()]


TRICKY = [
    "",
    "   ",
    "One. One. One.",
    "He said no.  He said no.\n\nHe said no.",
    "Mr. Smith met Gen. Ozturk on Jan. 5 in the U.S. He left at 3 p.m. and said: \"No.\" (See p. 4.) Done!",
    "Tabs\tand\u00a0no-break\u2003em\u2003spaces. Next\x1csentence\x1d. Last one.",
    "1. First item. 2. Second item. a) one b) two. It ended... Or did it?! Yes.",
    "«Quoted.» ‘Single.’ “Double.” 'Plain.' Closing remarks follow here.",
]


@pytest.mark.parametrize("text", TRICKY)
def test_segment_equals_pysbd_on_tricky_text(text, plain_pysbd):
    expected = plain_pysbd.segment(text)
    assert FastSegmenter().segment(text) == expected


def test_segment_equals_pysbd_on_corpus_articles(plain_pysbd):
    articles = corpus_paragraphs(40)
    expected = [plain_pysbd.segment(text) for text in articles]
    assert [FastSegmenter().segment(text) for text in articles] == expected


def test_segment_equals_pysbd_on_the_real_news_articles(shared_data, plain_pysbd):
    paragraphs = [p for a in load_articles(shared_data / "realnews_dev_articles.jsonl")
                  for p in re.split(r"\n\s*\n", a.text) if len(p) < 3000]
    expected = [plain_pysbd.segment(p) for p in paragraphs]
    assert [FastSegmenter().segment(p) for p in paragraphs] == expected


def test_locate_sentences_follows_pysbds_rule_for_repeats_and_misses(plain_pysbd):
    text = "No. No.  No.\tYes. Maybe. No."
    cases = [["No.", "No.", "No.", "Yes.", "No."],  # the last "No." is found after "Yes."
             ["Yes.", "No.", "No."],  # after "Yes.", "No." is found once more; the third is dropped
             ["absent", "No.", "Maybe.", "Yes."],  # a sentence not in the text is dropped
             ["", "No.", ""],  # empty sentences take pysbd's regex rule
             ["No. No.", "No."]]  # an occurrence overlapping the previous match is skipped
    for sentences in cases:
        plain_pysbd.original_text = text
        expected = [span.sent for span in plain_pysbd.sentences_with_char_spans(sentences)]
        assert locate_sentences(sentences, text) == expected, sentences


def test_isspace_is_the_whitespace_of_str_patterns():
    # locate_sentences extends each match with str.isspace where pysbd's pattern has \s.
    space = re.compile(r"\s")
    assert all(bool(space.match(c)) == c.isspace() for c in map(chr, range(0x110000)))


def test_patterns_are_compiled_once_and_only_pysbd_sees_the_cache():
    segmenter = FastSegmenter()
    text = corpus_paragraphs(3)[-1]
    segmenter.segment(text)
    misses = PATTERNS.compile.cache_info().misses
    segmenter.segment(text)
    assert PATTERNS.compile.cache_info().misses == misses
    assert all(module.re is PATTERNS for module in pysbd_modules())
    assert pysbd.segmenter.re is re
    assert re.sub is not PATTERNS.sub
