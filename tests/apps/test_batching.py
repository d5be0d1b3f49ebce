"""The batcher in-process: concurrent callers get their own rows, and with `concurrent_calls`
several model calls run at once, each answering exactly what predict_proba gives."""
from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from apps.server.batching import SentenceBatcher
from conftest import corpus_article_texts
from model import StanceClassifier
from model.sentences import split_sentences

ARTICLES = [[s.text for s in split_sentences(text)] for text in corpus_article_texts(12).values()]


class ObservedBatcher(SentenceBatcher):
    """The real batcher, counting how many model calls run at the same moment."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self.running = self.most_at_once = 0

    def _predict(self, texts, contexts):
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(0.05)  # long enough for the next call to start beside this one
            return super()._predict(texts, contexts)
        finally:
            with self._lock:
                self.running -= 1


async def ask_all(batcher: SentenceBatcher, callers: list[list[str]]) -> list[np.ndarray]:
    await batcher.start()
    try:
        return await asyncio.gather(*(batcher.probabilities(texts) for texts in callers))
    finally:
        await batcher.stop()


@pytest.mark.parametrize("concurrent_calls", [1, 2])
def test_concurrent_callers_get_what_predict_proba_gives(tiny_model, concurrent_calls):
    classifier = StanceClassifier.from_pretrained(tiny_model, threads=1)
    batcher = ObservedBatcher(classifier, max_batch=40, max_wait_ms=20, concurrent_calls=concurrent_calls)
    callers = ARTICLES * 2
    answers = asyncio.run(ask_all(batcher, callers))
    for texts, rows in zip(callers, answers):
        np.testing.assert_allclose(rows, classifier.predict_proba(texts), atol=1e-5)
    assert batcher.stats.requests == len(callers) and batcher.stats.model_calls < len(callers)
    assert batcher.most_at_once == concurrent_calls


def test_concurrent_calls_must_be_positive(tiny_model):
    classifier = StanceClassifier.from_pretrained(tiny_model, threads=1)
    with pytest.raises(ValueError, match="concurrent_calls must be at least 1"):
        SentenceBatcher(classifier, concurrent_calls=0)


def test_the_cores_are_shared_out_by_call_unless_told():
    from apps.server.settings import ServerSettings, share_cores

    default = share_cores(ServerSettings(model_dir="m"), cores=4)
    assert (default.concurrent_calls, default.threads) == (4, 1)
    one_call = share_cores(ServerSettings(model_dir="m", concurrent_calls=1), cores=4)
    assert (one_call.concurrent_calls, one_call.threads) == (1, 4)
    workers = share_cores(ServerSettings(model_dir="m", workers=2), cores=4)
    assert (workers.concurrent_calls, workers.threads) == (2, 1)
    threads = share_cores(ServerSettings(model_dir="m", threads=2), cores=4)
    assert (threads.concurrent_calls, threads.threads) == (2, 2)
    assert share_cores(ServerSettings(model_dir="m", workers=8), cores=2).concurrent_calls == 1
