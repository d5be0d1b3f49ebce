"""What `stance serve` is told, in one object that travels to uvicorn's workers and Ray's replicas.

Kept apart from the app so that the command line can read its defaults without importing FastAPI.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass


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
