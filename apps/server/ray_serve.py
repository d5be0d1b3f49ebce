"""`stance serve --engine ray`: the same FastAPI app, run by Ray Serve as N replicas across a cluster.

Each replica is a Ray actor holding its own classifier and batcher, so it batches the requests
routed to it exactly as `stance serve` does; Ray's proxies (on every node that holds a replica)
spread requests over the replicas. A team whose traffic outgrows one machine adds nodes to the
Ray cluster and replicas to the deployment. The model files travel through Ray's object store,
as for `stance score --engine ray`: nodes need the package installed, not a copy of the model.
Ray is an optional extra, imported only here.
"""
from __future__ import annotations

import logging
import signal
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

from apps.server.app import create_app, load_classifier
from apps.server.settings import ServerSettings
from model.classifier import StanceClassifier

INSTALL_HINT = "pip install 'stance-news[ray]'"
APP_NAME = "stance"
# Requests one replica takes at a time: its batcher merges them, so it needs many in flight
# (Ray's default of a handful would cap each forward pass at a handful of articles).
MAX_ONGOING_REQUESTS = 256

try:
    import ray
    from ray import serve
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError(f"--engine ray needs Ray Serve, which is not installed: {INSTALL_HINT}") from error


class RayStartError(RuntimeError):
    """Ray could not be started here, or the cluster at --address could not be joined."""


@serve.ingress()
class StanceReplica:
    """One replica: writes the shipped model files to a temporary folder, loads them once, and
    serves the app of `stance serve` over that classifier."""

    def __init__(self, settings: ServerSettings, files_ref: list, backend: str, precision: str) -> None:
        """`files_ref`: [ObjectRef of {file name: bytes}], in a list so that Ray passes the
        reference on rather than resolving it in the controller."""
        files = ray.get(files_ref[0])
        self._folder = tempfile.TemporaryDirectory(prefix="stance-model-")
        for name, data in files.items():
            (Path(self._folder.name) / name).write_bytes(data)
        self.settings = settings
        self.classifier = StanceClassifier.from_pretrained(self._folder.name, batch_size=settings.pass_size,
                                                           backend=backend, precision=precision,
                                                           threads=settings.threads)

    def __serve_build_asgi_app__(self):
        return create_app(self.settings, self.classifier)


def serve_on_ray(settings: ServerSettings, replicas: int, address: str | None = None) -> None:
    """Deploy `replicas` replicas and serve until SIGTERM or Ctrl-C, then remove the deployment
    (and stop Ray when this process started it)."""
    deployed = start_on_ray(settings, replicas, address)
    print(f"stance serve: {settings.model_dir} on Ray Serve, {replicas} replicas, at "
          f"http://{settings.host}:{settings.port}/ ; API docs at /docs", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    deployed.stop()


class RayDeployment:
    """A running deployment; `stop()` removes it and disconnects (stopping Ray if it started it)."""

    def __init__(self, owned_ray: bool) -> None:
        self.owned_ray = owned_ray

    def stop(self) -> None:
        try:
            if self.owned_ray:
                serve.shutdown()
            else:
                serve.delete(APP_NAME)
        finally:
            ray.shutdown()


def start_on_ray(settings: ServerSettings, replicas: int, address: str | None = None) -> RayDeployment:
    """Start Ray here (or join `address`), deploy the app and return once every replica answers."""
    if replicas < 1:
        raise ValueError(f"--replicas must be at least 1, got {replicas}")
    # One inference thread and one call at a time per replica unless told: replicas are the unit
    # of parallelism here.
    settings = replace(settings, threads=settings.threads or 1, concurrent_calls=settings.concurrent_calls or 1)
    classifier = load_classifier(settings)  # fails here, with its own message, on a bad model directory
    files, backend, precision = model_files(classifier, Path(settings.model_dir))
    del classifier
    owned = not ray.is_initialized()
    try:
        if owned and address:
            ray.init(address=address, logging_level=logging.WARNING)
        elif owned:
            ray.init(num_cpus=replicas * settings.threads, include_dashboard=False, logging_level=logging.WARNING)
    except Exception as error:  # Ray raises many kinds (ConnectionError, RuntimeError, ...)
        raise RayStartError(f"Ray could not start{' at ' + address if address else ' here'}: {error}") from error
    try:
        files_ref = [ray.put(files)]
        del files
        serve.start(http_options={"host": settings.host, "port": settings.port,
                                  "request_timeout_s": settings.request_timeout_s + 5})
        deployment = serve.deployment(StanceReplica, name="StanceReplica", num_replicas=replicas,
                                      max_ongoing_requests=MAX_ONGOING_REQUESTS,
                                      ray_actor_options={"num_cpus": settings.threads})
        serve.run(deployment.bind(settings, files_ref, backend, precision), name=APP_NAME, route_prefix="/")
    except BaseException:
        RayDeployment(owned).stop()
        raise
    return RayDeployment(owned)


def model_files(classifier: StanceClassifier, directory: Path) -> tuple[dict[str, bytes], str, str]:
    """The files a replica needs: see the archive scorer's Ray engine, which ships the same."""
    from apps.scoring.archive_ray import _model_files

    return _model_files(classifier, directory)
