"""Temperature scaling: the fit, ECE, the stored file, its use by predict, and the reports."""
import json
import shutil

import numpy as np
import pytest

from apps.cli import main
from eval.calibration import expected_calibration_error, reliability_bins
from eval.evaluate import evaluate_model_dir
from model import StanceClassifier
from model.calibration import (AffineLogits, CalibrationFileError, LogitCalibration, choose_calibration, fit_temperature,
                               fit_vector_scaling, softmax, vector_scaling_wins)
from model.labels import LABELS
from model.model_dir import CALIBRATION_FILE

ARTICLE = "Seoul said it had no plans to retaliate. The union threatened a strike if pay talks failed. Talks resume on Monday."


def test_fit_recovers_the_temperature_that_generated_the_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(4000, 4))
    true_probabilities = softmax(logits / 2.5)
    gold = [LABELS[rng.choice(4, p=row / row.sum())] for row in true_probabilities.astype(np.float64)]
    assert fit_temperature(logits, gold, LABELS) == pytest.approx(2.5, rel=0.1)
    raw = expected_calibration_error(softmax(logits), gold, LABELS)
    fitted = expected_calibration_error(softmax(logits / fit_temperature(logits, gold, LABELS)), gold, LABELS)
    assert fitted < raw / 3


def synthetic(generating: AffineLogits, n: int = 4000, seed: int = 0) -> tuple[np.ndarray, list[str], list[str]]:
    """Logits, gold labels drawn from softmax(generating(logits)), and article ids of 20 sentences each."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=(n, 4))
    true_probabilities = softmax(generating.apply(logits)).astype(np.float64)
    gold = [LABELS[rng.choice(4, p=row / row.sum())] for row in true_probabilities]
    return logits, gold, [f"article-{i // 20}" for i in range(n)]


def test_vector_scaling_recovers_the_map_that_generated_the_labels():
    generating = AffineLogits((0.5, 1.0, 0.8, 1.2), (0.9, -0.3, -0.9, 0.3))  # shifts centred on zero, as fitted
    logits, gold, articles = synthetic(generating)
    fitted = fit_vector_scaling(logits, gold, LABELS)
    assert fitted.scale == pytest.approx(generating.scale, abs=0.1)
    assert fitted.shift == pytest.approx(generating.shift, abs=0.15)
    np.testing.assert_allclose(fitted.invert(fitted.apply(logits)), logits, atol=1e-4)
    chosen = choose_calibration(logits, gold, LABELS, articles, "synthetic")
    assert chosen.method == "vector" and chosen.comparison["vector"]["nll"] < chosen.comparison["temperature"]["nll"]
    assert 0 < chosen.comparison["vector"]["macro_f1"] <= 1
    assert chosen.affine.scale == pytest.approx(fitted.scale, abs=1e-3)
    forced = choose_calibration(logits, gold, LABELS, articles, "synthetic", method="temperature")
    assert forced.method == "temperature" and not forced.comparison


def test_auto_keeps_the_temperature_where_vector_scaling_only_fits_noise():
    logits, gold, articles = synthetic(AffineLogits.of_temperature(2.0), n=1200)
    chosen = choose_calibration(logits, gold, LABELS, articles, "synthetic")
    assert chosen.method == "temperature" and chosen.comparison["temperature"]["nll"] < chosen.comparison["vector"]["nll"]
    assert chosen.temperature == pytest.approx(2.0, rel=0.15)
    # Too few articles to compare on: the temperature, without a comparison.
    few = choose_calibration(logits[:60], gold[:60], LABELS, articles[:60], "three articles")
    assert few.method == "temperature" and not few.comparison


def test_vector_scaling_wins_on_held_out_likelihood_alone():
    better = {"temperature": {"nll": 0.70, "macro_f1": 0.62}, "vector": {"nll": 0.63, "macro_f1": 0.58}}
    assert vector_scaling_wins(better)  # macro-F1 is recorded, not decisive
    assert not vector_scaling_wins({**better, "vector": {"nll": 0.71, "macro_f1": 0.65}})


def test_vector_calibration_file_round_trip_and_errors(tmp_path):
    fitted = LogitCalibration(1.1, "held-out articles", 300, "vector", (0.7, 1.0, 0.9, 1.2), (0.4, 0.0, -0.7, 0.3),
                              {"temperature": {"nll": 0.81, "macro_f1": 0.6}, "vector": {"nll": 0.79, "macro_f1": 0.61}})
    fitted = fitted.with_folded(["model.safetensors"], fitted.affine)
    fitted.save(tmp_path)
    assert LogitCalibration.load(tmp_path) == fitted
    logits = np.array([[1.0, 0.5, -0.2, 0.1]])
    np.testing.assert_allclose(fitted.probabilities(logits), softmax(logits * np.array(fitted.class_scale) + fitted.class_shift))
    stored = json.loads((tmp_path / CALIBRATION_FILE).read_text())
    stored["class_scale"] = [0.7, -1.0, 0.9, 1.2]
    (tmp_path / CALIBRATION_FILE).write_text(json.dumps(stored))
    with pytest.raises(CalibrationFileError, match="'class_scale' and 'class_shift'"):
        LogitCalibration.load(tmp_path)
    stored["class_scale"], stored["method"] = [0.7, 1.0, 0.9, 1.2], "isotonic"
    (tmp_path / CALIBRATION_FILE).write_text(json.dumps(stored))
    with pytest.raises(CalibrationFileError, match="field 'method' must be one of temperature, vector"):
        LogitCalibration.load(tmp_path)
    stored["method"], stored["folded"] = "vector", {"model.safetensors": {"scale": [1.0]}}
    (tmp_path / CALIBRATION_FILE).write_text(json.dumps(stored))
    with pytest.raises(CalibrationFileError, match="field 'folded' entry 'model.safetensors'"):
        LogitCalibration.load(tmp_path)


def test_ece_by_hand():
    # Two sentences at confidence 0.9 (one right), two at 0.6 (both right): ECE = 0.5*|0.5-0.9| + 0.5*|1-0.6| = 0.4.
    probabilities = np.array([[0.9, 0.1, 0, 0], [0.9, 0.1, 0, 0], [0.6, 0.4, 0, 0], [0.4, 0.6, 0, 0]])
    gold = ["neutral", "conciliatory", "neutral", "conciliatory"]
    assert expected_calibration_error(probabilities, gold, LABELS) == pytest.approx(0.4)
    bins = reliability_bins(probabilities, gold, LABELS)
    assert len(bins) == 15 and sum(b.count for b in bins) == 4
    assert expected_calibration_error(np.array([[1.0, 0, 0, 0]]), ["neutral"], LABELS) == 0.0


def test_calibration_file_round_trip_and_errors(tmp_path):
    assert LogitCalibration.load(tmp_path) == LogitCalibration()  # no file: the identity
    LogitCalibration(1.7, "dev split", 120).save(tmp_path)
    assert LogitCalibration.load(tmp_path) == LogitCalibration(1.7, "dev split", 120)
    assert not list(tmp_path.glob(".*.tmp"))
    (tmp_path / CALIBRATION_FILE).write_text('{"temperature": -1}')
    with pytest.raises(CalibrationFileError, match="field 'temperature' must be a positive number"):
        LogitCalibration.load(tmp_path)
    (tmp_path / CALIBRATION_FILE).write_text("{oops")
    with pytest.raises(CalibrationFileError, match=f"{CALIBRATION_FILE}: not valid JSON"):
        LogitCalibration.load(tmp_path)


def test_training_fits_a_temperature_that_predict_applies(tiny_model):
    stored = json.loads((tiny_model / CALIBRATION_FILE).read_text())
    assert stored["temperature"] > 0 and stored["sentences"] > 0 and "dev split" in stored["fitted_on"]
    classifier = StanceClassifier.from_pretrained(tiny_model)
    assert classifier.calibration.temperature == pytest.approx(stored["temperature"])
    sentences = ["Beijing threatened tariffs on soybeans.", "The talks were cordial and productive."]
    logits = classifier.predict_logits(sentences)
    np.testing.assert_allclose(classifier.predict_proba(sentences), softmax(logits / stored["temperature"]), atol=1e-6)
    metrics = json.loads((tiny_model / "eval" / "test" / "metrics.json").read_text())
    assert metrics["calibration"]["temperature"] == pytest.approx(stored["temperature"])
    assert (tiny_model / "eval" / "test" / "reliability.png").stat().st_size > 5000


def test_min_confidence_abstains_as_neutral(tiny_model):
    classifier = StanceClassifier.from_pretrained(tiny_model)
    plain = classifier.predict(ARTICLE)
    assert not any(p.abstained for p in plain)
    threshold = sorted(max(p.probabilities.values()) for p in plain)[1] + 1e-6  # the two least sure sentences abstain
    cautious = classifier.predict(ARTICLE, min_confidence=threshold)
    for before, after in zip(plain, cautious):
        unsure = max(before.probabilities.values()) < threshold
        assert after.abstained == unsure and after.probabilities == before.probabilities
        assert after.label == ("neutral" if unsure else before.label)
    assert sum(p.abstained for p in cautious) == 2
    with pytest.raises(ValueError, match="min_confidence must be in"):
        classifier.predict(ARTICLE, min_confidence=1.5)


def test_calibrate_command_on_an_older_model_and_the_report(tiny_model, tiny_corpus, tmp_path, capsys):
    old = tmp_path / "old"
    shutil.copytree(tiny_model, old)
    (old / CALIBRATION_FILE).unlink()  # as trained before calibration existed
    before = evaluate_model_dir(old, tiny_corpus, tmp_path / "before", bootstrap_samples=0)
    assert before.calibration.temperature == 1.0 and before.calibration.ece_before == before.calibration.ece_after
    assert main(["calibrate", str(old)]) == 0  # default: the model's own dev split
    assert "fitted on" in capsys.readouterr().out and (old / CALIBRATION_FILE).is_file()
    assert main(["calibrate", str(old), str(tiny_corpus)]) == 0
    fitted = LogitCalibration.load(old)
    assert fitted.fitted_on == str(tiny_corpus) and fitted.sentences > 100
    after = evaluate_model_dir(old, tiny_corpus, tmp_path / "after", bootstrap_samples=0)
    # Fitted on these very sentences, the scaled ECE cannot be much worse than the raw one.
    assert after.calibration.ece_after <= after.calibration.ece_before + 0.01
    report = (tmp_path / "after" / "report.md").read_text()
    assert "## Calibration" in report and "![reliability](reliability.png)" in report
    assert (tmp_path / "after" / "reliability.png").is_file()
    empty = tmp_path / "no-splits"
    shutil.copytree(tiny_model, empty)
    (empty / "splits.json").unlink()
    assert main(["calibrate", str(empty)]) == 2
    assert "no dev split to calibrate on" in capsys.readouterr().err
