"""The `stance serve` subcommand: its options, and which engine runs the app."""
from __future__ import annotations

import argparse
from typing import Callable, Sequence

from apps.server.settings import ServerSettings

DEFAULTS = ServerSettings(model_dir="")


def add_serve_command(commands, positive_int: Callable[[str], int], parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """Register `stance serve` on the CLI's subparsers; `parents` carry the options shared with the
    other commands (MODEL_DIR, --backend, --threads, --verbose), so they mean the same here."""
    serve = commands.add_parser(
        "serve", parents=list(parents), help="an HTTP API and a page that label articles (FastAPI + uvicorn, or Ray Serve)",
        description="Serve a trained model over HTTP: POST /predict, POST /predict_sentences, GET /health, the page "
                    "at / and the API docs at /docs. Concurrent requests share forward passes (dynamic batching).")
    serve.add_argument("--host", default=DEFAULTS.host,
                       help=f"address to listen on (default {DEFAULTS.host}: this machine only; 0.0.0.0 for every interface)")
    serve.add_argument("--port", type=_port, default=DEFAULTS.port, help=f"TCP port (default {DEFAULTS.port})")
    serve.add_argument("--max-batch", type=positive_int, default=DEFAULTS.max_batch,
                       help=f"sentences from concurrent requests gathered into one model call (default {DEFAULTS.max_batch})")
    serve.add_argument("--pass-size", type=positive_int, default=DEFAULTS.pass_size,
                       help="the most sentences in a forward pass: each model call's sentences are sorted by length and "
                            "cut into passes, each padded to its own longest, where padding plus a fixed cost per pass is "
                            f"least (model/pass_plan.py) (default {DEFAULTS.pass_size})")
    serve.add_argument("--max-wait-ms", type=_non_negative, default=DEFAULTS.max_wait_ms,
                       help=f"how long a request waits for others to share its model call (default {DEFAULTS.max_wait_ms:g})")
    serve.add_argument("--concurrent-calls", type=positive_int, default=DEFAULTS.concurrent_calls,
                       help="model calls that run at once, each in its own thread with an equal share of the cores "
                            "(default: one per core, each with one inference thread; 1 runs one call at a time on every "
                            "core, which answers a lone caller sooner)")
    serve.add_argument("--workers", type=positive_int, default=DEFAULTS.workers,
                       help="uvicorn worker processes, each with its own model and batcher (default 1)")
    serve.add_argument("--max-body-bytes", type=positive_int, default=DEFAULTS.max_body_bytes,
                       help=f"larger request bodies get 413 (default {DEFAULTS.max_body_bytes})")
    serve.add_argument("--max-sentences", type=positive_int, default=DEFAULTS.max_sentences,
                       help=f"more sentences in one request get 413 (default {DEFAULTS.max_sentences})")
    serve.add_argument("--request-timeout", type=_positive_seconds, default=DEFAULTS.request_timeout_s, metavar="S",
                       help=f"a request still unanswered after S seconds gets 504 (default {DEFAULTS.request_timeout_s:g})")
    serve.add_argument("--engine", choices=["local", "ray"], default="local",
                       help="local: uvicorn in this process; ray: a Ray Serve deployment of --replicas replicas (default: local)")
    serve.add_argument("--replicas", type=positive_int, default=2, help="--engine ray: replicas, one CPU each (default 2)")
    serve.add_argument("--address", help="--engine ray: the Ray cluster to join (e.g. auto, or HEAD_IP:6379); "
                                         "default: start Ray on this machine")
    serve.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> None:
    settings = ServerSettings(model_dir=args.model_dir, host=args.host, port=args.port, max_batch=args.max_batch,
                              pass_size=args.pass_size, max_wait_ms=args.max_wait_ms,
                              concurrent_calls=args.concurrent_calls, workers=args.workers, backend=args.backend,
                              threads=args.threads, max_body_bytes=args.max_body_bytes,
                              max_sentences=args.max_sentences, request_timeout_s=args.request_timeout)
    if args.engine == "ray":
        if args.workers != 1:
            raise SystemExit("stance serve: error: --workers is for the local engine; with --engine ray use --replicas")
        try:
            from apps.server.ray_serve import RayStartError, serve_on_ray
        except ImportError as error:
            raise SystemExit(f"stance serve: error: {error}") from None
        try:
            serve_on_ray(settings, args.replicas, args.address)
        except RayStartError as error:
            raise SystemExit(f"stance serve: error: {error}") from None
        return
    try:
        from apps.server.local import serve_locally
    except ImportError as error:
        raise SystemExit(f"stance serve: error: {error} (pip install 'stance-news[serve]')") from None
    serve_locally(settings)


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"must be a TCP port (1-65535), got {value}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value
