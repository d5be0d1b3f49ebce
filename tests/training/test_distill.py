"""Distillation: a teacher's soft targets (tiny_model stands in for the large model), the mixed
loss, unlabelled text, and a student that every other command uses as an ordinary model."""
import json

import numpy as np
import pytest
import torch

from apps.cli import main
from conftest import ROOT, tiny_overrides
from model import StanceClassifier
from model.articles import ArticleFileError
from model.labels import LABELS
from training.config import ConfigError, load_config
from training.data import DataError, load_records
from training.distill import NO_LABEL, Distillation, distillation_objective, read_unlabelled, teacher_overlap_warning

ARTICLE = ROOT / "examples" / "gas_dispute_article.txt"


def distillation(teacher_dir, temperature=2.0, alpha=0.5, gold_loss=None) -> Distillation:
    objective = Distillation(StanceClassifier.from_pretrained(teacher_dir), teacher_dir, temperature, alpha)
    objective.cross_entropy = gold_loss
    return objective


def targets(soft, labels):
    return {"soft_targets": soft, "labels": labels}


def test_teacher_targets_are_its_probabilities_softened_by_the_temperature(tiny_model):
    texts = ["Beijing warned it would retaliate.", "The talks resume on Monday.", "The minister dismissed the report."]
    plain = StanceClassifier.from_pretrained(tiny_model).predict_proba(texts)
    at_1 = distillation(tiny_model, temperature=1.0).teacher_probabilities(texts)
    np.testing.assert_allclose(at_1, plain, atol=1e-5)
    at_4 = distillation(tiny_model, temperature=4.0).teacher_probabilities(texts)
    np.testing.assert_allclose(at_4.sum(axis=1), 1.0, atol=1e-5)
    entropy = lambda p: -(p * np.log(p)).sum(axis=1)  # noqa: E731
    assert (entropy(at_4) > entropy(at_1)).all() and (at_4.argmax(axis=1) == at_1.argmax(axis=1)).all()


def test_loss_mixes_soft_and_gold_terms(tiny_model):
    logits = torch.tensor([[2.0, 0.5, -1.0, 0.0], [0.0, 1.0, 0.0, 3.0]])
    gold = torch.nn.CrossEntropyLoss()
    labels = torch.tensor([0, 3])
    student_at_t = torch.softmax(logits / 2.0, dim=-1)
    # A student that already matches the teacher pays only the gold term.
    assert distillation(tiny_model, alpha=1.0, gold_loss=gold).loss(logits, targets(student_at_t, labels)).item() == pytest.approx(0.0, abs=1e-6)
    assert distillation(tiny_model, alpha=0.0, gold_loss=gold).loss(logits, targets(student_at_t, labels)).item() == \
        pytest.approx(gold(logits, labels).item())
    uniform = torch.full_like(logits, 0.25)
    kl = (uniform * (uniform.log() - torch.log_softmax(logits / 2.0, dim=-1))).sum(dim=-1).mean()
    mixed = distillation(tiny_model, alpha=0.3, gold_loss=gold).loss(logits, targets(uniform, labels)).item()
    assert mixed == pytest.approx(0.3 * 4 * kl.item() + 0.7 * gold(logits, labels).item(), rel=1e-5)
    # Rows without a gold label (unlabelled text) contribute only the soft term, never a NaN.
    unlabelled = torch.tensor([NO_LABEL, NO_LABEL])
    assert distillation(tiny_model, alpha=0.3, gold_loss=gold).loss(logits, targets(uniform, unlabelled)).item() == \
        pytest.approx(0.3 * 4 * kl.item(), rel=1e-5)


def test_distil_writes_an_ordinary_model_directory(tiny_model, tiny_corpus, tmp_path, capsys):
    unlabelled = tmp_path / "extra.jsonl"
    unlabelled.write_text(json.dumps({"text": "The ministry rejected the demand. Talks will resume on Friday."}) + "\n"
                          + json.dumps({"text": "Officials threatened new tariffs."}) + "\n")
    student = tmp_path / "student"
    overrides = tiny_overrides(tiny_corpus, student) + ["distill_temperature=3", "distill_alpha=0.7"]
    assert main(["distill", str(tiny_model), str(ROOT / "configs" / "default.yaml"), *overrides,
                 "--unlabelled", str(unlabelled), str(ARTICLE)]) == 0
    assert "model written to" in capsys.readouterr().out
    record = json.loads((student / "distillation.json").read_text())
    article_sentences = len(read_unlabelled(ARTICLE))
    assert record["unlabelled"] == {str(unlabelled): 3, str(ARTICLE): article_sentences}
    assert record["temperature"] == 3.0 and record["alpha"] == 0.7
    metrics = json.loads((student / "metrics.json").read_text())
    assert metrics["training"]["steps"] == 4 and record["sentences_scored_by_teacher"] == metrics["training"]["train_sentences"] + 3 + article_sentences
    assert load_config(student / "config.yaml").distill_alpha == 0.7

    predictions = StanceClassifier.from_pretrained(student).predict(ARTICLE.read_text(encoding="utf-8"))
    assert len(predictions) == article_sentences and {p.label for p in predictions} <= set(LABELS)
    assert main(["predict", str(student), str(ARTICLE), "--format", "jsonl"]) == 0
    assert main(["evaluate", str(student), str(tiny_corpus), "--out", str(tmp_path / "ev"), "--bootstrap", "20"]) == 0
    assert (tmp_path / "ev" / "metrics.json").is_file()
    pytest.importorskip("onnxruntime")
    assert main(["export", str(student), "--int8"]) == 0
    assert StanceClassifier.from_pretrained(student).backend.name == "onnx"


def test_teacher_trained_on_the_students_held_out_articles_is_flagged(tiny_model, tiny_corpus, tmp_path):
    records = load_records(tiny_corpus)
    same = load_config(ROOT / "configs" / "default.yaml", tiny_overrides(tiny_corpus, tmp_path))
    assert teacher_overlap_warning(tiny_model, same, records) is None
    other_split = load_config(ROOT / "configs" / "default.yaml", tiny_overrides(tiny_corpus, tmp_path) + ["seed=99"])
    assert "the teacher trained on" in teacher_overlap_warning(tiny_model, other_split, records)


def test_unlabelled_and_config_errors_name_the_problem(tiny_model, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"txt": "typo"}\n')
    with pytest.raises(ArticleFileError, match=f"{bad}:2: field 'text'"):
        read_unlabelled(bad)
    (tmp_path / "x.csv").write_text("text\nsome sentence\n")
    with pytest.raises(DataError, match="expected a .txt article or a .jsonl"):
        read_unlabelled(tmp_path / "x.csv")
    with pytest.raises(ConfigError, match="distill_alpha"):
        load_config(ROOT / "configs" / "default.yaml", ["distill_alpha=1.5"])
    assert main(["distill", str(tmp_path / "no-teacher"), str(ROOT / "configs" / "default.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_distill_accepts_a_weighted_data_entry(tiny_model, tiny_corpus, tmp_path):
    """`data=PATH:WEIGHT` passes config validation, so distillation must read PATH, not 'PATH:WEIGHT'."""
    weighted = load_config(ROOT / "configs" / "default.yaml", tiny_overrides(tiny_corpus, tmp_path / "s") + [f"data={tiny_corpus}:0.5"])
    objective = distillation_objective(tiny_model, weighted)
    assert objective.teacher is not None and objective.alpha == weighted.distill_alpha
    # The weight changes the training share only: the overlap check splits the same articles.
    records = load_records(tiny_corpus)
    assert teacher_overlap_warning(tiny_model, weighted, records) is None
