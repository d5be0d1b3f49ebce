"""Training with committed teacher labels (config.teacher_labels) and optional inputs: the real
loop on the tiny corpus, the mixed loss, the model card's data sources, the `teacher-label` command."""
import json

import numpy as np
import pytest
import torch

from apps.cli import main
from conftest import ROOT, tiny_overrides
from eval.post_training import train_and_report
from model import StanceClassifier
from model.labels import LABELS
from training.config import ConfigError, load_config, resolve_optional_inputs
from training.distill import NO_LABEL, NO_SOFT_TARGET, TeacherLabelledObjective, objective_for, top_class_weights
from training.objective import TrainingObjective
from training.teacher_labels import read_teacher_labels

DEFAULT = ROOT / "configs" / "default.yaml"
ARTICLES = [
    {"article_id": "pool-1", "text": "Beijing warned it would retaliate against new tariffs. Talks resume on Monday."},
    {"article_id": "pool-2", "text": "The ministry rejected the demand outright.\n\nBoth sides agreed to keep talking."},
]


@pytest.fixture(scope="module")
def pool(tiny_model, tmp_path_factory):
    """A small unlabelled pool and its teacher-labels file, written by the real command."""
    folder = tmp_path_factory.mktemp("pool")
    articles = folder / "pool.jsonl"
    articles.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES), encoding="utf-8")
    labels = folder / "pool.teacher.jsonl"
    assert main(["teacher-label", str(tiny_model), str(articles), "--out", str(labels)]) == 0
    return articles, labels


def test_teacher_label_command_writes_every_sentence_without_text(pool):
    articles, labels = pool
    read = read_teacher_labels(labels)
    assert len(read.rows) == 4 and {r.article_id for r in read.rows} == {"pool-1", "pool-2"}
    assert "retaliate" not in labels.read_text(encoding="utf-8")


def test_teacher_label_command_names_a_bad_articles_file(tiny_model, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"article_id": "a", "text": "fine."}\n{"article_id": "b"}\n', encoding="utf-8")
    assert main(["teacher-label", str(tiny_model), str(bad), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert f"{bad}:2: field 'text'" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


def test_absent_optional_inputs_are_left_out_with_a_note(tiny_corpus, own_news, tmp_path):
    absent = tmp_path / "absent.jsonl"
    config = load_config(DEFAULT, tiny_overrides(tiny_corpus, tmp_path / "m") + [
        f"optional_extra_data=[{own_news}:2, {absent}]", f"optional_extra_eval=[{absent}, {own_news}]",
        f"teacher_labels={tmp_path / 'labels.jsonl'}", f"teacher_articles={absent}"])
    resolved = resolve_optional_inputs(config)
    assert resolved.config.extra_data == [f"{own_news}:2"] and resolved.config.extra_eval == [str(own_news)]
    assert resolved.config.teacher_labels == "" and resolved.config.optional_extra_data == []
    assert len(resolved.notes) == 3 and all(str(absent) in note for note in resolved.notes)
    assert isinstance(objective_for(resolved.config), TrainingObjective)


def test_teacher_labels_need_their_articles_file():
    with pytest.raises(ConfigError, match="teacher_labels needs teacher_articles"):
        load_config(DEFAULT, ["teacher_labels=x.jsonl", "teacher_articles=''"])


def test_loss_takes_soft_terms_on_teacher_rows_and_gold_terms_on_labelled_rows():
    objective = TeacherLabelledObjective(2.0, 0.3, "labels.jsonl", [], np.zeros((0, 4), np.float32))
    objective.cross_entropy = torch.nn.CrossEntropyLoss()
    logits = torch.tensor([[2.0, 0.5, -1.0, 0.0], [0.0, 1.0, 0.0, 3.0], [1.0, 1.0, 0.0, 0.0]])
    soft = torch.tensor([[NO_SOFT_TARGET] * 4, [0.1, 0.2, 0.3, 0.4], [0.25] * 4])
    labels = torch.tensor([0, NO_LABEL, NO_LABEL])
    taught = soft[1:]
    kl = (taught * (taught.log() - torch.log_softmax(logits[1:] / 2.0, dim=-1))).sum(dim=-1).mean()
    gold = torch.nn.functional.cross_entropy(logits[:1], labels[:1])
    loss = objective.loss(logits, {"labels": labels, "soft_targets": soft})
    assert loss.item() == pytest.approx(0.3 * 4 * kl.item() + 0.7 * gold.item(), rel=1e-5)
    only_gold = objective.loss(logits[:1], {"labels": labels[:1], "soft_targets": soft[:1]})
    assert only_gold.item() == pytest.approx(0.7 * gold.item(), rel=1e-5)


def test_training_with_teacher_labels_joins_the_pool_and_records_every_source(pool, tiny_corpus, own_news, tmp_path):
    articles, labels = pool
    out = tmp_path / "student"
    config = load_config(DEFAULT, tiny_overrides(tiny_corpus, out) + [
        f"teacher_labels={labels}", f"teacher_articles={articles}", "teacher_weight=2",
        f"optional_extra_data=[{own_news}:0.5, {tmp_path / 'absent.jsonl'}]"])
    objective = objective_for(resolve_optional_inputs(config).config)
    assert isinstance(objective, TeacherLabelledObjective) and len(objective.texts) == 8  # 4 sentences, weight 2
    np.testing.assert_allclose(objective.soft_targets.sum(axis=1), 1.0, atol=1e-5)

    report = train_and_report(config, progress=False)
    assert report.run.steps == 4 and any("absent.jsonl" in note for note in report.run.notes)
    record = json.loads((out / "distillation.json").read_text())
    assert record["teacher_labelled_sentences_per_epoch"] == 8 and record["articles_not_found"] == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert [s["path"] for s in metrics["data"]["sources"]] == [str(tiny_corpus), str(own_news)]
    assert metrics["data"]["sources"][1]["weight"] == 0.5 and metrics["data"]["teacher_labels"] == str(labels)
    card = (out / "README.md").read_text()
    assert f"`{own_news}`, weight 0.5" in card and "teacher probabilities" in card and "left out" in card
    saved = load_config(out / "config.yaml")
    assert saved.extra_data == [f"{own_news}:0.5"] and saved.optional_extra_data == []
    assert len(StanceClassifier.from_pretrained(out).predict(ARTICLES[0]["text"])) == 2
    assert set(StanceClassifier.from_pretrained(out).labels) == set(LABELS)


def test_several_teachers_record_the_mean_of_their_probabilities(tiny_model, pool, tmp_path):
    """A seed ensemble as the teacher: one command, the mean of the members' calibrated probabilities."""
    import shutil

    from model.calibration import AffineLogits
    from model.calibration_folding import refold_weights_file

    other = tmp_path / "other"
    shutil.copytree(tiny_model, other)
    refold_weights_file(other, AffineLogits(), AffineLogits((1.0,) * 4, (1.0, 0.0, 0.0, -1.0)))  # another head: another teacher
    articles, first = pool
    second, both = tmp_path / "second.jsonl", tmp_path / "both.jsonl"
    assert main(["teacher-label", str(other), str(articles), "--out", str(second), "--threads", "1"]) == 0
    assert main(["teacher-label", str(tiny_model), str(other), str(articles), "--out", str(both)]) == 0
    one, two, mean = (read_teacher_labels(path) for path in (first, second, both))
    assert mean.teacher == f"mean of {tiny_model.name}, other" and len(mean.rows) == len(one.rows) == 4
    for a, b, m in zip(one.rows, two.rows, mean.rows):
        assert (m.article_id, m.start, m.end, m.digest) == (a.article_id, a.start, a.end, a.digest)
        np.testing.assert_allclose(m.probabilities, (np.array(a.probabilities) + np.array(b.probabilities)) / 2, atol=1e-3)
    assert not np.allclose([r.probabilities for r in one.rows], [r.probabilities for r in two.rows], atol=0.05)


def test_balanced_teacher_rows_weigh_each_kl_term_by_the_inverse_frequency_of_the_teachers_top_class():
    probabilities = np.array([[0.7, 0.1, 0.1, 0.1]] * 3 + [[0.1, 0.6, 0.2, 0.1]], np.float32)
    weights = top_class_weights(probabilities)
    assert weights.tolist() == pytest.approx([4 / (4 * 3), 4 / (4 * 1), 1.0, 1.0])
    objective = TeacherLabelledObjective(2.0, 1.0, "labels.jsonl", [], np.zeros((0, 4), np.float32), top_class_weights=weights)
    objective.cross_entropy = torch.nn.CrossEntropyLoss()
    logits = torch.tensor([[2.0, 0.5, -1.0, 0.0], [0.0, 1.0, 0.0, 3.0]])
    soft = torch.tensor([[0.7, 0.1, 0.1, 0.1], [0.1, 0.6, 0.2, 0.1]])
    per_row = (soft * (soft.log() - torch.log_softmax(logits / 2.0, dim=-1))).sum(dim=-1)
    expected = (per_row[0] / 3 + per_row[1] * 1) / (1 / 3 + 1)
    loss = objective.loss(logits, {"labels": torch.tensor([NO_LABEL, NO_LABEL]), "soft_targets": soft})
    assert loss.item() == pytest.approx(4 * expected.item(), rel=1e-5)
    assert expected.item() != pytest.approx(per_row.mean().item(), rel=1e-3)  # the weights change the loss


def test_teacher_class_weighting_is_recorded_and_checked(pool, tiny_corpus, tmp_path):
    articles, labels = pool
    out = tmp_path / "weighted"
    config = load_config(DEFAULT, tiny_overrides(tiny_corpus, out) + [
        f"teacher_labels={labels}", f"teacher_articles={articles}", "teacher_class_weighting=balanced"])
    train_and_report(config, progress=False)
    record = json.loads((out / "distillation.json").read_text())
    assert set(record["teacher_top_class_weights"]) == set(LABELS)
    with pytest.raises(ConfigError, match="teacher_class_weighting must be 'balanced' or 'none'"):
        load_config(DEFAULT, ["teacher_class_weighting=inverse"])


def test_teacher_rows_read_their_neighbours_when_the_model_reads_context(pool, tiny_corpus, tmp_path):
    """A context model learns each pool sentence beside the sentence before it, as it is served."""
    articles, labels = pool
    out = tmp_path / "context"
    config = load_config(DEFAULT, tiny_overrides(tiny_corpus, out) + [
        f"teacher_labels={labels}", f"teacher_articles={articles}", "context=previous"])
    objective = objective_for(config)
    assert objective.contexts == ["", "Beijing warned it would retaliate against new tariffs.",
                                  "", "The ministry rejected the demand outright."]
    rows = objective.dataset([], [])
    assert rows["context"] == objective.contexts
    train_and_report(config, progress=False)
    classifier = StanceClassifier.from_pretrained(out)
    assert classifier.context == "previous" and len(classifier.predict(ARTICLES[1]["text"])) == 2


def test_pool_contexts_start_afresh_at_each_article():
    from training.distill import pool_contexts

    ids, texts = ["a", "a", "a", "b", "b"], ["A0", "A1", "A2", "B0", "B1"]
    assert pool_contexts(ids, texts, "none") is None
    assert pool_contexts(ids, texts, "previous") == ["", "A0", "A1", "", "B0"]
    assert pool_contexts(ids, texts, "previous_and_first") == ["", "A0", "A0 A1", "", "B0"]
