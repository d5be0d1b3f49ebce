"""Cross-request dynamic batching: the sentences of concurrent HTTP requests share forward passes.

One request's article is usually a few dozen sentences, too few to keep the CPU's vector units
busy; many callers at once would each run their own small pass. The batcher queues each
request's sentences, gathers whatever else arrives within `max_wait_ms` (or until `max_batch`
sentences are waiting), runs one `StanceClassifier.predict_proba` on them all in a worker
thread, and hands every request back its own rows. While a call runs, new requests queue up and
go together into the next one, so calls grow with the load without any wait being tuned.
predict_proba sorts a call's sentences by length and cuts them into passes of at most the
classifier's batch size (the server's `--pass-size`) where padding plus a fixed cost per pass
is least (model/pass_plan.py), so the sentences of many articles share little padding.

With `concurrent_calls` above 1, that many calls run at once, each in its own thread (with one
inference thread each, the cores are shared out by call rather than inside each small pass). A
new call starts as soon as a slot is free, so requests are balanced over the cores one by one;
uvicorn's worker processes (`--workers`) can only balance connections, which keep-alive clients
hold for their whole session.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from model.classifier import StanceClassifier
from model.context import article_contexts


@dataclass
class BatchStats:
    """Counters since the server started: how many requests went through how many model calls."""

    requests: int = 0
    sentences: int = 0
    model_calls: int = 0
    largest_call: int = 0


@dataclass
class _Job:
    """One request's sentences (with their article contexts when the model reads context)."""

    texts: list[str]
    contexts: list[str] | None
    future: asyncio.Future


class SentenceBatcher:
    """Merges the sentences of concurrent callers into shared `predict_proba` calls.

    `probabilities` returns exactly the rows `classifier.predict_proba(texts)` gives for the
    same sentences, up to float rounding: a model that reads context gets each caller's contexts
    computed from that caller's sentences alone, as predict_proba would compute them.
    """

    def __init__(self, classifier: StanceClassifier, max_batch: int = 64, max_wait_ms: float = 5.0,
                 concurrent_calls: int = 1) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must not be negative, got {max_wait_ms}")
        if concurrent_calls < 1:
            raise ValueError(f"concurrent_calls must be at least 1, got {concurrent_calls}")
        self.classifier = classifier
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000
        self.concurrent_calls = concurrent_calls
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._free_calls: asyncio.Semaphore | None = None
        self._calls: set[asyncio.Task] = set()
        self._executor = ThreadPoolExecutor(max_workers=concurrent_calls, thread_name_prefix="stance-model")

    async def start(self) -> None:
        """Start gathering; call from the event loop that will serve the requests."""
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._free_calls = asyncio.Semaphore(self.concurrent_calls)
        self._task = asyncio.create_task(self._run(), name="stance-batcher")

    async def stop(self) -> None:
        """Stop gathering; callers still waiting get an error rather than hanging."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._calls:  # calls already running answer their callers
            await asyncio.gather(*self._calls, return_exceptions=True)
        while self._queue is not None and not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(RuntimeError("the server is shutting down"))
        self._executor.shutdown(wait=True)

    async def probabilities(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> np.ndarray:
        """Calibrated probabilities for one caller's consecutive sentences (columns in
        `classifier.labels` order), computed together with whatever else is waiting."""
        if self._queue is None or self._loop is None:
            raise RuntimeError("SentenceBatcher.start() was not called")
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.classifier.labels)), dtype=np.float32)
        if self.classifier.context != "none":
            contexts = list(contexts) if contexts is not None else article_contexts(texts, self.classifier.context)
        else:
            contexts = None
        future = self._loop.create_future()
        await self._queue.put(_Job(texts, contexts, future))
        return await future

    def probabilities_from_thread(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> np.ndarray:
        """`probabilities` for code that runs in a worker thread (the page's explanations)."""
        if self._loop is None:
            raise RuntimeError("SentenceBatcher.start() was not called")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:  # waiting here would block the loop that must answer
            raise RuntimeError("probabilities_from_thread was called on the event loop; await probabilities() there")
        return asyncio.run_coroutine_threadsafe(self.probabilities(texts, contexts), self._loop).result()

    async def _run(self) -> None:
        assert self._queue is not None and self._loop is not None and self._free_calls is not None
        while True:
            # Gather only once a call slot is free: what arrives while every slot is busy waits
            # in the queue and goes into the next call together.
            await self._free_calls.acquire()
            try:
                jobs = await self._gather()
            except BaseException:
                self._free_calls.release()
                raise
            if not jobs:
                self._free_calls.release()
                continue
            call = asyncio.create_task(self._answer_then_free(jobs))
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)

    async def _gather(self) -> list[_Job]:
        """The next call's requests: the first to arrive, then whatever follows within the wait."""
        assert self._queue is not None and self._loop is not None
        jobs = [await self._queue.get()]
        size = len(jobs[0].texts)
        deadline = self._loop.time() + self.max_wait_s
        # A batch may pass max_batch by its last request: a request is never split, and
        # predict_proba cuts any call into passes of the classifier's batch size anyway.
        while size < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - self._loop.time()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            jobs.append(job)
            size += len(job.texts)
        # A request that timed out while it waited needs no forward pass.
        return [job for job in jobs if not job.future.done()]

    async def _answer_then_free(self, jobs: list[_Job]) -> None:
        assert self._free_calls is not None
        try:
            await self._answer(jobs)
        finally:
            self._free_calls.release()

    async def _answer(self, jobs: list[_Job]) -> None:
        texts = [text for job in jobs for text in job.texts]
        contexts = None if jobs[0].contexts is None else [c for job in jobs for c in job.contexts]
        try:
            probabilities = await self._loop.run_in_executor(self._executor, self._predict, texts, contexts)
        except Exception as error:  # the callers get the error; the batcher keeps serving
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(error)
            return
        self.stats.requests += len(jobs)
        self.stats.sentences += len(texts)
        self.stats.model_calls += 1
        self.stats.largest_call = max(self.stats.largest_call, len(texts))
        start = 0
        for job in jobs:
            rows = probabilities[start:start + len(job.texts)]
            start += len(job.texts)
            if not job.future.done():
                job.future.set_result(rows)

    def _predict(self, texts: list[str], contexts: list[str] | None) -> np.ndarray:
        return self.classifier.predict_proba(texts, contexts)
