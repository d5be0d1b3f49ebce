"""Score a whole news archive: every sentence of every article, streamed to part files.

Articles are read one at a time, scored, and committed in parts (see archive_output), so memory
stays bounded by one part whatever the archive's size, and `resume=True` carries on where an
interrupted job stopped. Each article is scored on its own (`StanceClassifier.predict`), so its
scores never depend on which articles shared its batch: a resumed job, or the Ray engine, gives
the same rows as one uninterrupted local run.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

from tqdm.auto import tqdm

from apps.scoring.archive_input import DEFAULT_MAX_CHARS, Article, BadArticle, read_articles
from apps.scoring.archive_output import ScoredArticle, ScoreOutput
from model.classifier import StanceClassifier

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class ScoringSummary:
    """What one run did; `total_*` count the whole job, earlier runs of a resumed one included.
    `sentences_per_s` divides by the whole run, model loading and Ray start included;
    `steady_sentences_per_s` counts from the first scored article on."""

    out: str
    engine: str
    workers: int
    articles: int
    sentences: int
    skipped_done: int
    errors: int
    seconds: float
    sentences_per_s: float
    steady_sentences_per_s: float
    total_articles: int
    total_sentences: int


def score_archive(model_dir: str | Path, input_path: str | Path, out: str | Path, *, resume: bool = False,
                  engine: str = "local", workers: int | None = None, address: str | None = None,
                  backend: str = "auto", part_articles: int = 500, max_chars: int = DEFAULT_MAX_CHARS,
                  max_articles: int | None = None, threads: int | None = None, progress: bool = True) -> ScoringSummary:
    """Score every article of `input_path` (JSONL or a folder of .txt) into the folder `out`
    (`*.parquet` or `*.jsonl`). `max_articles` stops after that many newly scored articles
    (to try a job out, or to split one into runs). `threads`: the local engine's inference threads
    (default one per physical core); Ray actors always run one thread on one CPU."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    started = time.perf_counter()
    classifier = StanceClassifier.from_pretrained(model_dir, backend=backend, threads=threads)
    job = {"model_dir": str(Path(model_dir).resolve()), "labels": list(classifier.labels),
           "input": str(Path(input_path).resolve()), "format": Path(out).suffix.lstrip("."),
           "backend": classifier.backend.name}
    records = read_articles(input_path, max_chars)  # checks the input before the output folder is made
    output = ScoreOutput(out, job, resume=resume, part_articles=part_articles)
    todo = ArticlesToScore(records, output, max_articles)
    if engine == "ray":
        from apps.scoring.archive_ray import ray_session, score_with_ray

        with ray_session(address, workers) as workers:
            written = _write_scored(score_with_ray(todo, classifier, model_dir, workers=workers), output, engine, progress)
    else:
        workers = 1
        scored = (ScoredArticle(a.article_id, a.extra, classifier.predict(a.text)) for a in todo)
        written = _write_scored(scored, output, engine, progress)
    output.commit()
    seconds = time.perf_counter() - started
    summary = ScoringSummary(str(out), engine, workers, written.articles, written.sentences, todo.skipped,
                             output.errors, round(seconds, 2), round(written.sentences / seconds, 1) if seconds else 0.0,
                             written.steady_rate(), output.committed_articles, output.committed_sentences)
    output.close(asdict(summary))
    return summary


@dataclass
class WriteCounts:
    """Articles and sentences handed to the output, and when the first and last arrived."""

    articles: int = 0
    sentences: int = 0
    first_sentences: int = 0
    first_at: float = 0.0
    last_at: float = 0.0

    def steady_rate(self) -> float:
        """Sentences/s after the first article: the rate once models are loaded."""
        span = self.last_at - self.first_at
        return round((self.sentences - self.first_sentences) / span, 1) if span > 0 else 0.0


def _write_scored(scored: Iterable[ScoredArticle], output: ScoreOutput, engine: str, progress: bool) -> WriteCounts:
    """Hand every scored article to the output, with a progress bar in sentences/s. On an error
    or Ctrl-C the queued articles are dropped, not half-written."""
    counts = WriteCounts()
    bar = tqdm(desc=f"scoring ({engine})", unit=" sent", unit_scale=True, disable=not progress, smoothing=0.05)
    try:
        for item in scored:
            output.add(item)
            counts.last_at = time.perf_counter()
            if counts.articles == 0:
                counts.first_at, counts.first_sentences = counts.last_at, len(item.predictions)
            counts.articles += 1
            counts.sentences += len(item.predictions)
            bar.update(len(item.predictions))
            if counts.articles % 20 == 0:
                bar.set_postfix(articles=counts.articles, errors=output.errors, refresh=False)
    except BaseException:
        output.abandon()
        raise
    finally:
        bar.close()
    return counts


class ArticlesToScore:
    """The input's articles not yet written, in order; bad records go to the errors file on the way."""

    def __init__(self, records: Iterable[Article | BadArticle], output: ScoreOutput, max_articles: int | None) -> None:
        self._records = records
        self._output = output
        self._max_articles = max_articles
        self.skipped = 0

    def __iter__(self) -> Iterator[Article]:
        taken = 0
        for record in self._records:
            if isinstance(record, BadArticle):
                self._output.record_error(record)
            elif record.article_id in self._output.done_ids:
                self.skipped += 1
            elif self._max_articles is not None and taken >= self._max_articles:
                return
            else:
                taken += 1
                yield record
