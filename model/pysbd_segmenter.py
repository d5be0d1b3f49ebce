"""pysbd's segmenter without its two needless costs, returning exactly what pysbd returns.

pysbd spends about half its time compiling regular expressions rather than matching them:

- it calls `re.sub(pattern_string, ...)` with several hundred distinct patterns (one or two per
  abbreviation it meets, in each letter case), more than the 512 that `re` caches, so patterns
  are evicted and compiled again article after article;
- `Segmenter.segment` finds each sentence in the text with a regular expression built from that
  sentence (`re.escape(sentence) + r"\\s*"`), which is compiled once and never used again, and
  which evicts the abbreviation patterns from `re`'s cache on its way.

`FastSegmenter.segment` locates the sentences with `str.find` instead, with the same rule
(the first occurrence ending after the previous sentence, plus the whitespace that follows it);
and pysbd's modules look `re` up as a module global, so each is given a stand-in, `_PatternCache`,
that compiles each pattern once into a cache of its own. Only pysbd's modules see it; `re` and
its cache are untouched for the rest of the process.
"""
from __future__ import annotations

import functools
import re
import sys
from types import ModuleType

import pysbd

# Distinct patterns pysbd compiles for English news stay well under this; the bound only keeps
# memory finite on pathological input (its patterns embed abbreviations as they were written).
PATTERN_CACHE_SIZE = 4096


class _PatternCache:
    """Stands in for the `re` module inside pysbd: the same functions with the same arguments
    and results, each pattern compiled once. Anything else (`escape`, the flags) is `re`'s own."""

    escape = staticmethod(re.escape)  # called as often as the others: spared __getattr__

    def __init__(self, maxsize: int) -> None:
        self.compile = functools.lru_cache(maxsize)(re.compile)

    def sub(self, pattern, repl, string, count=0, flags=0):
        return self.compile(pattern, flags).sub(repl, string, count)

    def subn(self, pattern, repl, string, count=0, flags=0):
        return self.compile(pattern, flags).subn(repl, string, count)

    def search(self, pattern, string, flags=0):
        return self.compile(pattern, flags).search(string)

    def match(self, pattern, string, flags=0):
        return self.compile(pattern, flags).match(string)

    def fullmatch(self, pattern, string, flags=0):
        return self.compile(pattern, flags).fullmatch(string)

    def findall(self, pattern, string, flags=0):
        return self.compile(pattern, flags).findall(string)

    def finditer(self, pattern, string, flags=0):
        return self.compile(pattern, flags).finditer(string)

    def split(self, pattern, string, maxsplit=0, flags=0):
        return self.compile(pattern, flags).split(string, maxsplit)

    def __getattr__(self, name: str):
        return getattr(re, name)


PATTERNS = _PatternCache(PATTERN_CACHE_SIZE)


def pysbd_modules() -> list[ModuleType]:
    """The loaded pysbd modules that call `re` through a module global, but for pysbd.segmenter:
    its one pattern is the throwaway per-sentence one that FastSegmenter does without."""
    return [module for name, module in sorted(sys.modules.items())
            if name.startswith("pysbd.") and name != "pysbd.segmenter" and module is not None
            and getattr(module, "re", None) in (re, PATTERNS)]


def cache_pysbd_patterns() -> None:
    """Give every loaded pysbd module the pattern cache in place of `re` (idempotent)."""
    for module in pysbd_modules():
        module.re = PATTERNS


class FastSegmenter(pysbd.Segmenter):
    """`pysbd.Segmenter(language, clean=False)`, with the sentences located without a regex each."""

    def __init__(self, language: str = "en") -> None:
        super().__init__(language=language, clean=False)
        # The language's modules are imported by the line above; give them the cache too.
        cache_pysbd_patterns()

    def segment(self, text: str) -> list[str]:
        """The sentences of `text`, each with the whitespace after it, as pysbd's `segment` gives them."""
        if not text:
            return []
        return locate_sentences(self.processor(text).process(), text)


def locate_sentences(sentences: list[str], text: str) -> list[str]:
    """pysbd's `sentences_with_char_spans` texts, found with `str.find`.

    For each sentence pysbd takes, of the non-overlapping matches of `escape(sentence) + r"\\s*"`
    scanned left to right, the first that ends after the previous sentence's match; a sentence
    with no such match is dropped. `str.isspace` is the same test as `\\s` on `str` patterns.
    """
    found: list[str] = []
    prior_end = 0
    for sentence in sentences:
        if not sentence:  # a pattern that matches the empty string: leave its rules to `re`
            match = next((m for m in re.finditer(r"\s*", text) if m.end() > prior_end), None)
            if match is not None:
                found.append(match.group())
                prior_end = match.end()
            continue
        position = text.find(sentence)
        while position != -1:
            end = position + len(sentence)
            while end < len(text) and text[end].isspace():
                end += 1
            if end > prior_end:
                found.append(text[position:end])
                prior_end = end
                break
            position = text.find(sentence, end)
    return found
