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
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from tqdm.auto import tqdm

from model.articles import load_articles
from model.classifier import StanceClassifier
from model.labels import LABEL_TO_ID, LABELS
from model.model_dir import DISTILLATION_FILE, ModelDirectoryError, read_splits
from model.sentences import split_sentences
from training.config import ConfigError, TrainConfig, parse_source
from training.data import DataError, Record, load_records, split_by_article
from training.objective import TrainingObjective

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


@dataclass
class Distillation(TrainingObjective):
    """A teacher and the loss that mixes its soft targets with the gold labels."""

    teacher: StanceClassifier | None  # released once it has scored the training rows
    teacher_dir: Path
    temperature: float
    alpha: float
    unlabelled: dict[str, list[str]] = field(default_factory=dict)  # file -> its sentences
    scored_sentences: int = 0

    def check(self, config: TrainConfig) -> None:
        if config.context != "none":
            raise ConfigError("distillation reads sentences without context; set context=none")

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

    def teacher_probabilities(self, texts: list[str]) -> np.ndarray:
        """softmax(teacher logits / T), recovered from its probabilities: p_i^(1/T), renormalised."""
        teacher = self.teacher
        columns = [teacher.labels.index(label) for label in LABELS]
        chunks = []
        for start in tqdm(range(0, len(texts), SCORING_CHUNK), desc="teacher scoring", unit="chunk"):
            chunks.append(teacher.predict_proba(texts[start:start + SCORING_CHUNK])[:, columns])
        log_p = np.log(np.clip(np.concatenate(chunks), 1e-12, None)) / self.temperature
        tempered = np.exp(log_p - log_p.max(axis=1, keepdims=True))
        return (tempered / tempered.sum(axis=1, keepdims=True)).astype(np.float32)

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
