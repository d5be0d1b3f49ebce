import json

import pytest

from eval.evaluate import evaluate_model_dir
from eval.metrics import score
from eval.splitting import score_splitting


def test_score_matches_hand_computed_values():
    gold = ["neutral", "neutral", "threatening", "dismissive", "conciliatory", "neutral"]
    pred = ["neutral", "threatening", "threatening", "neutral", "conciliatory", "neutral"]
    m = score(gold, pred, groups=["a", "a", "b", "b", "c", "c"], bootstrap_samples=200, seed=1)
    assert m.accuracy == pytest.approx(4 / 6)
    assert m.per_class["neutral"]["precision"] == pytest.approx(2 / 3) and m.per_class["neutral"]["recall"] == pytest.approx(2 / 3)
    assert m.per_class["threatening"]["f1"] == pytest.approx(2 / 3) and m.per_class["dismissive"]["f1"] == 0
    assert m.macro_f1 == pytest.approx((2 / 3 + 1 + 0 + 2 / 3) / 4)
    assert m.confusion[0] == [2, 0, 0, 1] and m.n == 6
    low, high = m.macro_f1_ci
    assert 0 <= low <= high <= 1


def test_evaluate_writes_report_files_with_baselines(tiny_model, tiny_corpus, tmp_path):
    out = tmp_path / "report"
    result = evaluate_model_dir(tiny_model, tiny_corpus, out, bootstrap_samples=50)
    for name in ("metrics.json", "report.md", "confusion.png", "predictions.jsonl"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"macro_f1", "accuracy", "per_class", "macro_f1_ci", "baselines"} <= set(metrics)
    assert set(metrics["baselines"]) == {"majority class", "TF-IDF + logistic regression"}
    report = (out / "report.md").read_text()
    assert "## Per article" in report and "TF-IDF" in report
    assert len(result.articles) == 16 and result.metrics.n == sum(a.sentences for a in result.articles)


def test_evaluate_on_real_dev_sentences(tiny_model, shared_data, tmp_path):
    result = evaluate_model_dir(tiny_model, shared_data / "realnews_dev.jsonl", tmp_path / "dev", bootstrap_samples=20)
    assert result.metrics.n == 631 and len(result.articles) == 36


def test_split_scoring_counts_boundaries():
    articles = {"a": "One sentence here. Another one there. A third."}
    perfect = score_splitting(articles, {"a": ["One sentence here.", "Another one there.", "A third."]})
    assert perfect.boundary_precision == perfect.boundary_recall == 1.0 and perfect.exact_sentence_matches == 3
    coarser = score_splitting(articles, {"a": ["One sentence here. Another one there.", "A third."]})
    assert coarser.boundary_recall == 1.0 and coarser.boundary_precision == pytest.approx(2 / 3)


def test_a_dev_split_held_out_of_the_extra_data_is_found_and_calibrates(tiny_corpus, own_news, tmp_path, capsys):
    """A model trained on real news holds its dev articles out of the extra data, not the corpus:
    `stance calibrate MODEL_DIR` must find them there."""
    from apps.cli import main
    from conftest import ROOT, tiny_overrides
    from eval.evaluate import split_records_of
    from eval.post_training import train_and_report
    from training.config import load_config
    from training.data import load_records

    out = tmp_path / "with-own-news"
    overrides = tiny_overrides(tiny_corpus, out) + [f"extra_data=['{own_news}']", "extra_dev_fraction=0.34"]
    train_and_report(load_config(ROOT / "configs" / "default.yaml", overrides), progress=False)
    dev = split_records_of(out, "dev")
    own_articles = {r.article_id for r in load_records(own_news)}
    assert dev and {r.article_id for r in dev} <= own_articles
    assert main(["calibrate", str(out)]) == 0
    assert f"fitted on {len(dev)} sentences" in capsys.readouterr().out
