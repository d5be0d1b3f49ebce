"""What `stance serve` is told, in one object that travels to uvicorn's workers and Ray's replicas.

Kept apart from the app so that the command line can read its defaults without importing FastAPI.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class ServerSettings:
    """Everything `stance serve` is told: the model, where to listen, batching, and the limits."""

    model_dir: str
    host: str = "127.0.0.1"
    port: int = 8000
    max_batch: int = 64
    max_wait_ms: float = 5.0
    # Sentences per forward pass within a model call: the call's sentences are sorted by length
    # and cut into passes this size, each padded to its own longest. A call gathers a few
    # articles' sentences of every length; one pass of all of them would pad every sentence to
    # the longest, where smaller passes keep the padding near what a large sorted batch has.
    pass_size: int = 16
    # Model calls running at once in one process, each in its own thread: with one inference
    # thread per call, concurrent requests keep every core busy without splitting small passes
    # across cores. None: one per core (share_cores).
    concurrent_calls: int | None = None
    workers: int = 1
    backend: str = "auto"
    threads: int | None = None
    # Limits that keep one caller from holding the server: room for the longest real article,
    # not for a whole archive in one request (that is `stance score`'s job).
    max_body_bytes: int = 2_000_000
    max_sentences: int = 5_000
    request_timeout_s: float = 120.0

    def to_json(self) -> str:
        """The settings as JSON, to hand to uvicorn's worker processes through the environment."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ServerSettings":
        return cls(**json.loads(text))


def share_cores(settings: ServerSettings, cores: int) -> ServerSettings:
    """The settings with what was left to the machine filled in: each worker process gets an
    equal share of `cores`; within it, by default one model call per core with one inference
    thread each (a single caller then runs on one core, and concurrent callers on all of them)."""
    per_worker = max(1, cores // settings.workers)
    calls, threads = settings.concurrent_calls, settings.threads
    if calls is None:
        calls = max(1, per_worker // threads) if threads else per_worker
    if threads is None:
        threads = max(1, per_worker // calls)
    return replace(settings, concurrent_calls=calls, threads=threads)
