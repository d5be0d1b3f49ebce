"""Training data from several labelled sources: the corpus split by article, plus extra sources
(an analyst's own news) trained on whole, each with a weight.

A weight says how often each sentence is seen per epoch: 3 repeats every sentence three
times, 0.2 keeps a seeded fifth of them. Few hundred own labels beside thousands of corpus
sentences need weight > 1 to matter; a corpus replayed at a small weight keeps a continued
fine-tuning from forgetting what the default model knew.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from training.config import DataSource, TrainConfig, parse_source
from training.data import DataError, Record, Splits, load_records, record_contexts, split_by_article, subsample_articles


@dataclass
class TrainingData:
    """The article splits (train already weighted) and each loaded sentence's context segment."""

    splits: Splits
    contexts: dict[tuple[str, int], str] = field(default_factory=dict)
    sources: list[DataSource] = field(default_factory=list)
    dev_description: str = ""  # which articles the dev split holds (early stopping and the temperature)

    def contexts_of(self, records: list[Record]) -> list[str]:
        return [self.contexts[(r.article_id, r.sentence_id)] for r in records]


def weighted(records: list[Record], weight: float, seed: int) -> list[Record]:
    """Each record int(weight) times, plus a seeded sample of the fractional part (at least one)."""
    whole, fraction = int(weight), weight - int(weight)
    extra = random.Random(seed).sample(records, max(1, round(len(records) * fraction))) if fraction > 1e-9 else []
    return records * whole + extra


def build_training_data(config: TrainConfig) -> TrainingData:
    """Split `config.data` by article, add every extra source to training (or its dev share to dev)."""
    main = parse_source(config.data, "data")
    records = load_records(main.path)
    splits = split_by_article(records, config.dev_fraction, config.test_fraction, config.seed)
    splits.train = weighted(subsample_articles(splits.train, config.train_fraction, config.seed), main.weight, config.seed)
    contexts = record_contexts(records, config.context)
    owners = dict.fromkeys({r.article_id for r in records}, main.path)
    sources, extra_dev = [main], []
    for number, entry in enumerate(config.extra_data, 1):
        source = parse_source(entry, "extra_data")
        extra = load_records(source.path)
        contexts.update(record_contexts(extra, config.context))
        for article_id in sorted({r.article_id for r in extra}):
            if article_id in owners:
                raise DataError(f"{source.path}: article_id {article_id!r} is also in {owners[article_id]}; "
                                "article ids must be unique across data and extra_data")
            owners[article_id] = source.path
        if config.extra_dev_fraction:
            parts = split_by_article(extra, config.extra_dev_fraction, 0.0, config.seed, config.extra_dev_fold)
            extra, extra_dev = parts.train, extra_dev + parts.dev
        splits.train += weighted(extra, source.weight, config.seed + number)
        sources.append(source)
    dev_description = f"{main.path} (dev split)"
    if extra_dev:
        # Early stopping and the temperature then follow the extra (real or own) news, not our corpus.
        splits.dev = extra_dev
        dev_description = f"{len({r.article_id for r in extra_dev})} articles held out of {', '.join(s.path for s in sources[1:])}"
    return TrainingData(splits, contexts, sources, dev_description)
