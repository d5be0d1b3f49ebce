"""The article context a model may read beside each sentence: the sentence before it and the
article's first sentence (usually the headline), passed as the tokenizer's second segment.

Who "he" is and what "the offer" was often sit in the previous sentence; a model trained with
a context mode must be served with the same one, so the mode is stored in the model directory.
"""
from __future__ import annotations

from typing import Mapping, Sequence

CONTEXT_MODES = ("none", "previous", "previous_and_first")


def context_segment(previous: str | None, first: str | None, mode: str) -> str:
    """The second segment for one sentence: '' when the mode or the article gives no context."""
    if mode == "none":
        return ""
    parts = [first] if mode == "previous_and_first" and first and first != previous else []
    if previous:
        parts.append(previous)
    return " ".join(p.strip() for p in parts)


def neighbours(sentences: Sequence[str]) -> list[tuple[str | None, str | None]]:
    """(previous sentence, first sentence) for each of the consecutive sentences of one article;
    the first sentence has neither."""
    first = sentences[0] if sentences else None
    return [(sentences[i - 1] if i else None, first if i else None) for i in range(len(sentences))]


def keyed_neighbours(texts: Mapping[tuple[str, int], str], article_id: str, sentence_id: int) -> tuple[str | None, str | None]:
    """(previous sentence, first sentence) of sentence `sentence_id` of an article whose sentences
    are known by (article_id, sentence_id), as labelled files hold them; None where not known."""
    if not sentence_id:
        return None, None
    return texts.get((article_id, sentence_id - 1)), texts.get((article_id, 0))


def article_contexts(sentences: Sequence[str], mode: str) -> list[str]:
    """Context segments for the consecutive sentences of one article."""
    if mode not in CONTEXT_MODES:
        raise ValueError(f"context mode must be one of {', '.join(CONTEXT_MODES)}, got {mode!r}")
    return [context_segment(previous, first, mode) for previous, first in neighbours(sentences)]
