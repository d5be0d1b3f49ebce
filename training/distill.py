"""`stance distill`: train the small model on a large teacher's probabilities.

The teacher (any model directory) scores the student's training sentences and any extra
unlabelled text; the student then learns from the teacher's softened distribution mixed with the
gold label where there is one (Hinton et al., 2015):

    loss = alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(gold)

Distillation is a TrainingObjective (training/objective.py): the training loop, dev selection and
output are the ordinary ones (training/trainer.py), so the result is a plain model directory that
evaluate, export and predict use as is.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from tqdm.auto import tqdm

from model.articles import load_articles
from model.classifier import StanceClassifier
from model.context import article_contexts
from model.labels import LABEL_TO_ID, LABELS
from model.model_dir import DISTILLATION_FILE, ModelDirectoryError, read_splits
from model.sentences import split_sentences
from training.config import ConfigError, TrainConfig, parse_source
from training.data import DataError, Record, load_records, split_by_article
from training.objective import TrainingObjective, inverse_frequency_weights
from training.sources import weighted
from training.teacher_labels import join_text, read_teacher_labels

NO_LABEL = -100  # CrossEntropyLoss's ignore_index: a sentence the teacher labels but no person did
SCORING_CHUNK = 256


def read_unlabelled(path: str | Path) -> list[str]:
    """Sentences of an unlabelled file: a .txt article, or .jsonl with a "text" (article or sentence)
    per line, read by the project's one article reader (model/articles.py)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"unlabelled file {path} does not exist")
    if path.suffix not in (".txt", ".jsonl"):
        raise DataError(f"unlabelled file {path}: expected a .txt article or a .jsonl file with a 'text' field per line")
    sentences = [s.text for article in load_articles(path, ids_required=False) for s in split_sentences(article.text)]
    if not sentences:
        raise DataError(f"unlabelled file {path} holds no sentences")
    return sentences


def soften(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / T) from softmax(logits): p_i^(1/T), renormalised (float32)."""
    log_p = np.log(np.clip(probabilities, 1e-12, None)) / temperature
    tempered = np.exp(log_p - log_p.max(axis=1, keepdims=True))
    return (tempered / tempered.sum(axis=1, keepdims=True)).astype(np.float32)


def _require_no_context(config: TrainConfig) -> None:
    if config.context != "none":
        raise ConfigError("distillation reads sentences without context; set context=none")


@dataclass
class Distillation(TrainingObjective):
    """A teacher and the loss that mixes its soft targets with the gold labels."""

    teacher: StanceClassifier | None  # released once it has scored the training rows
    teacher_dir: Path
    temperature: float
    alpha: float
    unlabelled: dict[str, list[str]] = field(default_factory=dict)  # file -> its sentences
    scored_sentences: int = 0

    def dataset(self, train_records: list[Record], contexts: list[str] | None = None) -> Dataset:
        """The student's training rows: the labelled split plus the unlabelled sentences, each
        with the teacher's probabilities at the temperature (columns in LABELS order)."""
        texts = [r.text for r in train_records] + [s for sentences in self.unlabelled.values() for s in sentences]
        labels = [LABEL_TO_ID[r.label] for r in train_records] + [NO_LABEL] * (len(texts) - len(train_records))
        articles = [r.article_id for r in train_records] + [
            f"unlabelled:{name}" for name, sentences in self.unlabelled.items() for _ in sentences]
        soft = self.teacher_probabilities(texts)
        self.scored_sentences, self.teacher = len(texts), None
        return Dataset.from_dict({"text": texts, "label": labels, "article_id": articles, "soft_targets": soft.tolist()})

    def check(self, config: TrainConfig) -> None:
        _require_no_context(config)
        if config.teacher_labels:
            raise ConfigError("stance distill runs its own teacher; set teacher_labels='' (or use stance train with teacher_labels)")

    def teacher_probabilities(self, texts: list[str]) -> np.ndarray:
        """softmax(teacher logits / T), recovered from its probabilities."""
        teacher = self.teacher
        columns = [teacher.labels.index(label) for label in LABELS]
        chunks = []
        for start in tqdm(range(0, len(texts), SCORING_CHUNK), desc="teacher scoring", unit="chunk"):
            chunks.append(teacher.predict_proba(texts[start:start + SCORING_CHUNK])[:, columns])
        return soften(np.concatenate(chunks), self.temperature)

    def loss(self, logits: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """alpha * T^2 * KL(teacher || student) at temperature T, plus (1 - alpha) * gold CE on labelled rows."""
        t, labels = self.temperature, targets["labels"]
        soft = torch.nn.functional.kl_div(torch.log_softmax(logits / t, dim=-1), targets["soft_targets"], reduction="batchmean")
        labelled = labels != NO_LABEL
        gold = self.cross_entropy(logits[labelled], labels[labelled]) if labelled.any() else logits.new_zeros(())
        return self.alpha * t * t * soft + (1 - self.alpha) * gold

    def summary(self) -> dict:
        """What distillation.json records beside the student."""
        return {"teacher": str(self.teacher_dir.resolve()), "temperature": self.temperature, "alpha": self.alpha,
                "unlabelled": {name: len(s) for name, s in self.unlabelled.items()},
                "sentences_scored_by_teacher": self.scored_sentences}

    def files(self) -> dict[str, str]:
        return {DISTILLATION_FILE: json.dumps(self.summary(), indent=2)}


def teacher_overlap_warning(teacher_dir: Path, config: TrainConfig, records: list[Record]) -> str | None:
    """A warning when the teacher trained on articles the student holds out (its scores would be inflated)."""
    teacher_splits = read_splits(teacher_dir)
    if teacher_splits is None:
        return None
    teacher_train = set(teacher_splits.get("train", []))
    splits = split_by_article(records, config.dev_fraction, config.test_fraction, config.seed)
    held_out = {r.article_id for r in splits.dev + splits.test}
    seen = teacher_train & held_out
    if not seen:
        return None
    return (f"warning: the teacher trained on {len(seen)} of the student's {len(held_out)} dev/test articles; "
            f"the student's dev and test scores will look better than they are (train both with the same "
            f"data, seed, dev_fraction and test_fraction)")


def distillation_objective(teacher_dir: str | Path, config: TrainConfig,
                           unlabelled: list[str | Path] | None = None) -> Distillation:
    """The teacher loaded and checked, ready to hand to `train` as its objective."""
    teacher_dir = Path(teacher_dir)
    # PyTorch even where an int8 export exists: int8 moves ~4% of labels, and the targets should be exact.
    teacher = StanceClassifier.from_pretrained(teacher_dir, backend="torch")
    if set(teacher.labels) != set(LABELS):
        raise ModelDirectoryError(f"teacher {teacher_dir} predicts {', '.join(teacher.labels)}; expected {', '.join(LABELS)}")
    if torch.cuda.is_available():
        teacher.backend.model.to("cuda")
    # `data` may carry a weight ('PATH:WEIGHT'); the split is of the file or folder alone.
    warning = teacher_overlap_warning(teacher_dir, config, load_records(parse_source(config.data, "data").path))
    if warning:
        tqdm.write(warning)
    return Distillation(teacher, teacher_dir, config.distill_temperature, config.distill_alpha,
                        {str(path): read_unlabelled(path) for path in unlabelled or []})


def top_class_weights(probabilities: np.ndarray) -> torch.Tensor:
    """Inverse-frequency weights (n / (k * count)) of the teacher's top class; an absent class gets 1.

    The pool is mostly neutral, so without them the soft loss is mostly about neutral sentences
    while the gold loss is class-weighted: this puts the two on the same footing."""
    return inverse_frequency_weights(np.bincount(probabilities.argmax(axis=1), minlength=len(LABELS)).tolist())


def pool_contexts(article_ids: list[str], texts: list[str], mode: str) -> list[str] | None:
    """The context segment of each teacher-labelled sentence, from the sentences beside it in its
    article (the labels file lists an article's sentences in order); None when the mode is 'none'.

    The teacher read each sentence alone, but the student learns the same sentence with its
    neighbours, as it will be served."""
    if mode == "none":
        return None
    contexts: list[str] = []
    for _, rows in groupby(zip(article_ids, texts), key=itemgetter(0)):
        contexts.extend(article_contexts([text for _, text in rows], mode))
    return contexts


NO_SOFT_TARGET = -1.0  # fills soft_targets on gold rows that have no teacher probabilities


@dataclass
class TeacherLabelledObjective(TrainingObjective):
    """Gold labels plus sentences a large teacher labelled once, ahead of time (config.teacher_labels).

    The teacher's probabilities are read from a committed file and joined with the articles' text
    at load time, so the main job learns from the teacher without running it. Gold rows take the
    (class-weighted) cross-entropy, teacher rows the softened KL divergence:

        loss = alpha * T^2 * KL(teacher_T || student_T) [teacher rows] + (1 - alpha) * CE(gold) [gold rows]
    """

    temperature: float
    alpha: float
    source: str
    texts: list[str]
    soft_targets: np.ndarray  # (n, len(LABELS)), already softened at the temperature
    missing_articles: int = 0
    changed_sentences: int = 0
    top_class_weights: torch.Tensor | None = None  # per class, by the teacher's top class; None weighs rows alike
    contexts: list[str] | None = None  # each teacher row's context segment, when the config reads context

    @classmethod
    def from_config(cls, config: TrainConfig) -> "TeacherLabelledObjective":
        """Read config.teacher_labels, join it with config.teacher_articles and keep a teacher_weight share."""
        joined = join_text(read_teacher_labels(config.teacher_labels), load_articles(config.teacher_articles))
        if not joined.texts:
            raise DataError(f"{config.teacher_labels}: none of its sentences matches {config.teacher_articles} "
                            f"(another file, or edited articles); regenerate it with `stance teacher-label`")
        contexts = pool_contexts(joined.article_ids, joined.texts, config.context)
        chosen = weighted(list(range(len(joined.texts))), config.teacher_weight, config.seed)
        probabilities = joined.probabilities[chosen]
        return cls(config.distill_temperature, config.distill_alpha, config.teacher_labels,
                   [joined.texts[i] for i in chosen], soften(probabilities, config.distill_temperature),
                   joined.missing_articles, joined.changed_sentences,
                   top_class_weights(probabilities) if config.teacher_class_weighting == "balanced" else None,
                   None if contexts is None else [contexts[i] for i in chosen])

    def prepare(self, config: TrainConfig, train_records: list[Record], device: torch.device) -> None:
        super().prepare(config, train_records, device)
        if self.top_class_weights is not None:
            self.top_class_weights = self.top_class_weights.to(device)

    def dataset(self, train_records: list[Record], contexts: list[str] | None = None) -> Dataset:
        """Gold rows (label, no soft target) followed by teacher rows (soft target, no label), each
        with its context segment when the model reads context."""
        no_soft = [NO_SOFT_TARGET] * len(LABELS)
        columns = {
            "text": [r.text for r in train_records] + self.texts,
            "label": [LABEL_TO_ID[r.label] for r in train_records] + [NO_LABEL] * len(self.texts),
            "soft_targets": [no_soft] * len(train_records) + self.soft_targets.tolist(),
        }
        if contexts is not None:
            if self.contexts is None:
                raise ValueError("the gold rows carry context but the teacher rows were read without it")
            columns["context"] = list(contexts) + self.contexts
        return Dataset.from_dict(columns)

    def loss(self, logits: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """The soft term over the batch's teacher rows plus the gold term over its labelled rows."""
        t, labels, soft_targets = self.temperature, targets["labels"], targets["soft_targets"]
        taught, labelled = soft_targets[:, 0] >= 0, labels != NO_LABEL
        soft = self.soft_loss(logits[taught], soft_targets[taught]) if taught.any() else logits.new_zeros(())
        gold = self.cross_entropy(logits[labelled], labels[labelled]) if labelled.any() else logits.new_zeros(())
        return self.alpha * t * t * soft + (1 - self.alpha) * gold

    def soft_loss(self, logits: torch.Tensor, soft_targets: torch.Tensor) -> torch.Tensor:
        """KL(teacher_T || student_T) per row, averaged; weighted by the teacher's top class when
        top_class_weights is set, normalised by the weights as the gold cross-entropy is."""
        per_row = torch.nn.functional.kl_div(torch.log_softmax(logits / self.temperature, dim=-1), soft_targets,
                                             reduction="none").sum(dim=-1)
        if self.top_class_weights is None:
            return per_row.mean()
        weights = self.top_class_weights[soft_targets.argmax(dim=-1)]
        return (weights * per_row).sum() / weights.sum()

    def summary(self) -> dict:
        """What distillation.json records beside the student."""
        weights = None if self.top_class_weights is None else dict(zip(LABELS, self.top_class_weights.tolist()))
        return {"teacher_labels": self.source, "temperature": self.temperature, "alpha": self.alpha,
                "teacher_top_class_weights": weights,
                "teacher_labelled_sentences_per_epoch": len(self.texts),
                "articles_not_found": self.missing_articles, "sentences_changed_since_labelling": self.changed_sentences}

    def files(self) -> dict[str, str]:
        return {DISTILLATION_FILE: json.dumps(self.summary(), indent=2)}


def objective_for(config: TrainConfig) -> TrainingObjective:
    """What a plain `stance train` minimises: gold cross-entropy, plus teacher labels when the config names them."""
    return TeacherLabelledObjective.from_config(config) if config.teacher_labels else TrainingObjective()
