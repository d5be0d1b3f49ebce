"""Temperature scaling: the fit, ECE, the stored file, its use by predict, and the reports."""
import json
import shutil

import numpy as np
import pytest

from apps.cli import main
from eval.calibration import expected_calibration_error, reliability_bins
from eval.evaluate import evaluate_model_dir
from model import StanceClassifier
from model.calibration import CalibrationFileError, TemperatureScaling, fit_temperature, softmax
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


def test_ece_by_hand():
    # Two sentences at confidence 0.9 (one right), two at 0.6 (both right): ECE = 0.5*|0.5-0.9| + 0.5*|1-0.6| = 0.4.
    probabilities = np.array([[0.9, 0.1, 0, 0], [0.9, 0.1, 0, 0], [0.6, 0.4, 0, 0], [0.4, 0.6, 0, 0]])
    gold = ["neutral", "conciliatory", "neutral", "conciliatory"]
    assert expected_calibration_error(probabilities, gold, LABELS) == pytest.approx(0.4)
    bins = reliability_bins(probabilities, gold, LABELS)
    assert len(bins) == 15 and sum(b.count for b in bins) == 4
    assert expected_calibration_error(np.array([[1.0, 0, 0, 0]]), ["neutral"], LABELS) == 0.0


def test_calibration_file_round_trip_and_errors(tmp_path):
    assert TemperatureScaling.load(tmp_path) == TemperatureScaling()  # no file: the identity
    TemperatureScaling(1.7, "dev split", 120).save(tmp_path)
    assert TemperatureScaling.load(tmp_path) == TemperatureScaling(1.7, "dev split", 120)
    assert not list(tmp_path.glob(".*.tmp"))
    (tmp_path / CALIBRATION_FILE).write_text('{"temperature": -1}')
    with pytest.raises(CalibrationFileError, match="field 'temperature' must be a positive number"):
        TemperatureScaling.load(tmp_path)
    (tmp_path / CALIBRATION_FILE).write_text("{oops")
    with pytest.raises(CalibrationFileError, match=f"{CALIBRATION_FILE}: not valid JSON"):
        TemperatureScaling.load(tmp_path)


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
    fitted = TemperatureScaling.load(old)
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
