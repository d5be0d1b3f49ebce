"""The article context a model may read beside each sentence: the sentence before it and the
article's first sentence (usually the headline), passed as the tokenizer's second segment.

Who "he" is and what "the offer" was often sit in the previous sentence; a model trained with
a context mode must be served with the same one, so the mode is stored in the model directory.
"""
from __future__ import annotations

from typing import Sequence

CONTEXT_MODES = ("none", "previous", "previous_and_first")


def context_segment(previous: str | None, first: str | None, mode: str) -> str:
    """The second segment for one sentence: '' when the mode or the article gives no context."""
    if mode == "none":
        return ""
    parts = [first] if mode == "previous_and_first" and first and first != previous else []
    if previous:
        parts.append(previous)
    return " ".join(p.strip() for p in parts)


def article_contexts(sentences: Sequence[str], mode: str) -> list[str]:
    """Context segments for the consecutive sentences of one article."""
    if mode not in CONTEXT_MODES:
        raise ValueError(f"context mode must be one of {', '.join(CONTEXT_MODES)}, got {mode!r}")
    first = sentences[0] if sentences else None
    return [context_segment(sentences[i - 1] if i else None, first if i else None, mode) for i in range(len(sentences))]
