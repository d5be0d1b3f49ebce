"""The archive scoring job on Ray: Ray Data runs a pool of actors that each load the model once.

The driver reads and checks the input with the same reader as the local engine (same errors,
same --resume skipping), puts the articles into Ray's object store in blocks (Ray spills them
to disk past its memory), and writes the scored articles it gets back with the same part writer.
The model files travel through the object store too, so the nodes of a cluster need the package
installed but neither a shared filesystem nor a copy of the model. Ray is an optional extra,
imported only here.
"""
from __future__ import annotations

import json
import logging
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from apps.scoring.archive_input import Article
from apps.scoring.archive_output import ScoredArticle
from model.classifier import SentencePrediction, StanceClassifier
from model.cpu_threads import physical_cores_available
from model.model_dir import INT8_FILE

INSTALL_HINT = "pip install 'stance-news[ray]'"
# Articles per object-store block, the unit of work an actor takes: small, so that the last
# blocks of a job spread over every actor rather than leaving all but one idle.
BLOCK_ARTICLES = 16


def import_ray():
    """The ray module, or an ImportError that says how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (the Data library is the part this module needs)
    except ImportError as error:
        raise ImportError(f"--engine ray needs Ray Data, which is not installed: {INSTALL_HINT}") from error
    return ray


@contextmanager
def ray_session(address: str | None, workers: int | None) -> Iterator[int]:
    """Connect to the cluster at `address`, or start Ray here with `workers` CPUs (default: one per
    physical core); yields the number of actors to run, and disconnects at the end if it connected."""
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    ray = import_ray()
    owned = not ray.is_initialized()
    if owned and address:
        ray.init(address=address, logging_level=logging.WARNING)
    elif owned:
        ray.init(num_cpus=workers or physical_cores_available(), include_dashboard=False, logging_level=logging.WARNING)
    try:
        yield workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    finally:
        if owned:
            ray.shutdown()


def score_with_ray(articles: Iterable[Article], classifier: StanceClassifier, model_dir: str | Path, *,
                   workers: int) -> Iterator[ScoredArticle]:
    """Scored articles, in the order the actors finish them; each actor takes one CPU and one
    thread. Call inside `ray_session`."""
    ray = import_ray()
    blocks = list(_blocks_in_object_store(ray, articles))
    if not blocks:
        return
    ray.data.DataContext.get_current().enable_progress_bars = False  # the job's own bar counts sentences
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    files, backend, precision = _model_files(classifier, Path(model_dir))
    # Put once and pass by reference: inside the UDF, the weights would be shipped with every task.
    files_ref = [ray.put(files)]
    del files
    if len(blocks) < 2 * workers:
        blocks = _split_small_job(ray, blocks, 2 * workers)
    dataset = ray.data.from_arrow_refs(blocks).map_batches(
        ArticleScorer, fn_constructor_kwargs={"files_ref": files_ref, "backend": backend, "precision": precision},
        batch_size=BLOCK_ARTICLES, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1)
    for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
        for row in batch.to_pylist():
            predictions = [SentencePrediction(text, start, end, label, dict(zip(classifier.labels, probabilities)))
                           for text, start, end, label, probabilities in
                           zip(row["texts"], row["starts"], row["ends"], row["labels"], row["probabilities"])]
            yield ScoredArticle(row["article_id"], json.loads(row["extra"]), predictions)


def _blocks_in_object_store(ray, articles: Iterable[Article]) -> Iterator:
    """Arrow tables of BLOCK_ARTICLES articles each, put in the object store as they fill."""
    import pyarrow as pa

    block: list[Article] = []
    for article in articles:
        block.append(article)
        if len(block) == BLOCK_ARTICLES:
            yield ray.put(_articles_table(pa, block))
            block = []
    if block:
        yield ray.put(_articles_table(pa, block))


def _split_small_job(ray, blocks: list, pieces: int) -> list:
    """A short job's few blocks cut into `pieces` smaller ones, so that every actor gets some.
    (Not Dataset.repartition: its tasks wait for CPUs that the actor pool already holds.)"""
    import pyarrow as pa

    table = pa.concat_tables(ray.get(blocks))
    size = max(1, -(-table.num_rows // pieces))
    return [ray.put(table.slice(start, size)) for start in range(0, table.num_rows, size)]


def _articles_table(pa, block: list[Article]):
    # Carried fields travel as JSON text: their types may differ from one article to the next.
    return pa.table({"article_id": pa.array([a.article_id for a in block], pa.string()),
                     "text": pa.array([a.text for a in block], pa.string()),
                     "extra": pa.array([json.dumps(a.extra, ensure_ascii=False) for a in block], pa.string())})


def _model_files(classifier: StanceClassifier, directory: Path) -> tuple[dict[str, bytes], str, str]:
    """The model directory's small files and the weights the driver's backend chose, and how to load them."""
    backend = classifier.backend
    checked = getattr(backend, "check_file", None)  # int8 with an fp32 recheck: both files, precision auto
    if backend.name == "onnx":
        weights = [backend.model_file] + ([checked] if checked else [])
        precision = "auto" if checked else "int8" if backend.model_file.name == INT8_FILE else "fp32"
    else:
        weights, precision = [directory / "model.safetensors"], "auto"
    small = {p.name: p.read_bytes() for p in directory.iterdir()
             if p.is_file() and p.suffix in (".json", ".txt")}
    return {**small, **{w.name: w.read_bytes() for w in weights}}, backend.name, precision


class ArticleScorer:
    """A Ray actor's model: written to a temporary folder and loaded once, then called per batch."""

    def __init__(self, files_ref: list, backend: str, precision: str) -> None:
        """`files_ref`: [ObjectRef of {file name: bytes}], wrapped in a list so that Ray hands over
        the reference rather than resolving it into the UDF."""
        files = import_ray().get(files_ref[0])
        self._folder = tempfile.TemporaryDirectory(prefix="stance-model-")
        for name, data in files.items():
            (Path(self._folder.name) / name).write_bytes(data)
        self.classifier = StanceClassifier.from_pretrained(self._folder.name, backend=backend, precision=precision,
                                                           threads=1)

    def __call__(self, batch):
        import pyarrow as pa

        columns: dict[str, list] = {"texts": [], "starts": [], "ends": [], "labels": [], "probabilities": []}
        for text in batch.column("text").to_pylist():
            predictions = self.classifier.predict(text)
            columns["texts"].append([p.text for p in predictions])
            columns["starts"].append([p.start for p in predictions])
            columns["ends"].append([p.end for p in predictions])
            columns["labels"].append([p.label for p in predictions])
            columns["probabilities"].append([[p.probabilities[label] for label in self.classifier.labels]
                                             for p in predictions])
        return pa.table({"article_id": batch.column("article_id"), "extra": batch.column("extra"),
                         "texts": pa.array(columns["texts"], pa.list_(pa.string())),
                         "starts": pa.array(columns["starts"], pa.list_(pa.int64())),
                         "ends": pa.array(columns["ends"], pa.list_(pa.int64())),
                         "labels": pa.array(columns["labels"], pa.list_(pa.string())),
                         "probabilities": pa.array(columns["probabilities"], pa.list_(pa.list_(pa.float64())))})
