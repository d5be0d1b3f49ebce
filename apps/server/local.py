"""`stance serve` on this machine: uvicorn runs the app; and a handle on a server subprocess.

uvicorn handles SIGTERM and SIGINT itself: it stops accepting connections, lets the requests in
flight finish (up to GRACEFUL_SHUTDOWN_S), stops the batcher, and exits with status 0.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator, Sequence

import uvicorn

from apps.server.app import create_app, load_classifier, weight_files
from apps.server.settings import ServerSettings, share_cores
from model.cpu_threads import physical_cores_available

# How long a SIGTERM waits for requests in flight before closing their connections.
GRACEFUL_SHUTDOWN_S = 30
ROOT = Path(__file__).resolve().parents[2]


def serve_locally(settings: ServerSettings) -> None:
    """Serve until SIGTERM or Ctrl-C. The model is loaded before the port opens, so that a bad
    model directory stops here with its own message rather than in a worker's traceback."""
    # A stop while the model loads ends with exit status 0 too, not "killed by SIGTERM".
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    # Each worker process runs its own model, and each of its calls its own passes: share the
    # cores out rather than oversubscribe them.
    settings = share_cores(settings, physical_cores_available())
    classifier = load_classifier(settings)
    print(f"stance serve: {settings.model_dir} ({classifier.backend.name}: {', '.join(weight_files(classifier))}; "
          f"{settings.concurrent_calls} model call(s) at once x {settings.threads} thread(s)"
          f"{f' in each of {settings.workers} workers' if settings.workers > 1 else ''}) on "
          f"http://{settings.host}:{settings.port}/ ; API docs at /docs", flush=True)
    options = dict(host=settings.host, port=settings.port, log_level="info",
                   timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
    if settings.workers == 1:
        GracefulServer(uvicorn.Config(create_app(settings, classifier), **options)).run()
        return
    del classifier  # each worker loads its own
    os.environ["STANCE_SERVE_SETTINGS"] = settings.to_json()
    uvicorn.run("apps.server.app:app_from_environment", factory=True, workers=settings.workers, **options)


def _exit_cleanly(signum: int, frame) -> None:
    raise SystemExit(0)


class GracefulServer(uvicorn.Server):
    """uvicorn's server, except that after its graceful shutdown on SIGTERM or Ctrl-C it returns.

    uvicorn itself re-raises the signal once it has shut down, to whatever handler was there
    before; with Python's defaults a clean stop then ends as "killed by SIGTERM" (status -15)
    or with a KeyboardInterrupt traceback, which supervisors read as a failure.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on at the moment of asking."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """`stance serve MODEL_DIR ARGS...` in a subprocess on a free loopback port, for tests and
    benchmarks: `with ServerProcess(model_dir) as server: httpx.get(server.url + "health")`.

    Entering waits until /health answers; leaving sends SIGTERM and waits for the exit status
    (`returncode`), killing the process only if it has not exited within `stop_timeout_s`.
    """

    def __init__(self, model_dir: str | Path, args: Sequence[str] = (), start_timeout_s: float = 300,
                 stop_timeout_s: float = 30, env: dict[str, str] | None = None) -> None:
        self.port = free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.command = [sys.executable, "-m", "apps.cli", "serve", str(model_dir), "--host", "127.0.0.1",
                        "--port", str(self.port), *args]
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process: subprocess.Popen | None = None
        self.returncode: int | None = None
        self.output = ""

    def __enter__(self) -> "ServerProcess":
        import httpx

        # A file, not a pipe: a pipe nobody reads fills up and blocks the server's logging.
        self._log_file = tempfile.TemporaryFile()
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=self._log_file,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._collect()
                raise RuntimeError(f"the server exited with status {self.process.returncode} before answering:\n"
                                   f"{self.output[-3000:]}")
            try:
                if httpx.get(self.url + "health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        self.stop()
        raise TimeoutError(f"the server did not answer /health within {self.start_timeout_s:g} s:\n{self.output[-3000:]}")

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Send `sig` and wait for the exit; the exit status (negative: killed by a signal)."""
        if self.process is None or self.returncode is not None:
            return self.returncode
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.returncode = self.process.returncode
        self._collect()
        return self.returncode

    def _collect(self) -> None:
        if not self._log_file.closed:
            self._log_file.seek(0)
            self.output = self._log_file.read().decode("utf-8", "replace")
            self._log_file.close()
