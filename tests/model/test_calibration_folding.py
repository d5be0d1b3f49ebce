"""The calibration map folded into the classification head: a plain transformers.pipeline gives the
calibrated probabilities (and, with vector scaling, the same labels), older unfolded directories
load as before, and refitting works."""
import json
import shutil

import numpy as np
import pytest

from eval.evaluate import calibrate_model_dir
from model import StanceClassifier
from model.calibration import AffineLogits, LogitCalibration, fit_temperature
from model.model_dir import CALIBRATION_FILE, ONNX_FILE, WEIGHTS_FILE
from model.calibration_folding import refold_weights_file
from training.data import load_records

# Short enough that neither side truncates (the tiny model's window is 32 tokens; the pipeline's is not set).
SENTENCES = ["Beijing threatened tariffs on soybeans.", "The talks were cordial and productive.",
             "Moscow dismissed the report as fiction.", "The ministry published its figures on Tuesday."]


def pipeline_probabilities(model_dir, labels) -> np.ndarray:
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(model_dir), top_k=None, device="cpu")
    rows = classify(SENTENCES)
    return np.array([[next(d["score"] for d in row if d["label"] == label) for label in labels] for row in rows])


def test_a_plain_pipeline_gives_the_calibrated_probabilities(tiny_model):
    calibration = LogitCalibration.load(tiny_model)
    assert abs(calibration.temperature - 1) > 1e-3, "a temperature of 1 would make this test vacuous"
    assert calibration.folded_into(WEIGHTS_FILE).temperature == pytest.approx(calibration.temperature)
    classifier = StanceClassifier.from_pretrained(tiny_model, backend="torch")
    np.testing.assert_allclose(pipeline_probabilities(tiny_model, classifier.labels), classifier.predict_proba(SENTENCES),
                               atol=1e-4)


def test_an_older_unfolded_directory_gives_the_same_probabilities(tiny_model, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(tiny_model, old)
    calibration = LogitCalibration.load(old)
    refold_weights_file(old, calibration.affine, AffineLogits())  # the weights as trained, before folding existed
    stored = json.loads((old / CALIBRATION_FILE).read_text())
    del stored["folded"]
    (old / CALIBRATION_FILE).write_text(json.dumps(stored))
    folded = StanceClassifier.from_pretrained(tiny_model, backend="torch")
    unfolded = StanceClassifier.from_pretrained(old, backend="torch")
    np.testing.assert_allclose(unfolded.predict_proba(SENTENCES), folded.predict_proba(SENTENCES), atol=1e-5)
    np.testing.assert_allclose(unfolded.predict_logits(SENTENCES), folded.predict_logits(SENTENCES), atol=1e-4)


def test_calibrate_refits_on_raw_logits_and_refolds(tiny_model, tiny_corpus, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model, copy)
    records = load_records(tiny_corpus)
    original = StanceClassifier.from_pretrained(tiny_model, backend="torch")
    expected = fit_temperature(original.predict_logits([r.text for r in records]), [r.label for r in records], original.labels)
    calibration, _ = calibrate_model_dir(copy, tiny_corpus, method="temperature")
    assert calibration.temperature == pytest.approx(expected, rel=1e-3)  # the old fold was undone before fitting
    assert LogitCalibration.load(copy).folded_into(WEIGHTS_FILE).temperature == pytest.approx(calibration.temperature)
    refitted = StanceClassifier.from_pretrained(copy, backend="torch")
    np.testing.assert_allclose(refitted.predict_logits(SENTENCES), original.predict_logits(SENTENCES), atol=1e-4)
    np.testing.assert_allclose(pipeline_probabilities(copy, refitted.labels), refitted.predict_proba(SENTENCES), atol=1e-4)


def test_onnx_export_of_a_folded_model_records_its_fold(tiny_model, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from model.export.onnx_export import export_onnx

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model, copy)
    export_onnx(copy)
    calibration = LogitCalibration.load(copy)
    assert calibration.folded_into(ONNX_FILE) == calibration.folded_into(WEIGHTS_FILE)
    torch_side = StanceClassifier.from_pretrained(copy, backend="torch").predict_proba(SENTENCES)
    onnx_side = StanceClassifier.from_pretrained(copy, backend="onnx", precision="fp32").predict_proba(SENTENCES)
    np.testing.assert_allclose(onnx_side, torch_side, atol=1e-4)


def test_vector_scaling_folds_into_the_weights_and_the_onnx_files(tiny_model, tiny_corpus, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model, copy)
    original = StanceClassifier.from_pretrained(tiny_model, backend="torch")
    calibration, summary = calibrate_model_dir(copy, tiny_corpus, method="vector")
    assert calibration.method == "vector" and summary.method == "vector"
    assert len(set(calibration.class_scale)) > 1 and any(calibration.class_shift), "a plain temperature would make this vacuous"
    stored = LogitCalibration.load(copy)
    assert stored.folded_into(WEIGHTS_FILE) == stored.affine and stored.affine.temperature is None
    refitted = StanceClassifier.from_pretrained(copy, backend="torch")
    # The backend undoes the fold: raw logits are those of the model as trained.
    np.testing.assert_allclose(refitted.predict_logits(SENTENCES), original.predict_logits(SENTENCES), atol=1e-4)
    probabilities = refitted.predict_proba(SENTENCES)
    np.testing.assert_allclose(probabilities, stored.probabilities(original.predict_logits(SENTENCES)), atol=1e-5)
    piped = pipeline_probabilities(copy, refitted.labels)
    np.testing.assert_allclose(piped, probabilities, atol=1e-4)
    assert (piped.argmax(axis=1) == probabilities.argmax(axis=1)).all()

    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from model.export.onnx_export import export_onnx

    export_onnx(copy, int8=True)
    assert LogitCalibration.load(copy).folded_into(ONNX_FILE) == stored.affine
    onnx_side = StanceClassifier.from_pretrained(copy, backend="onnx", precision="fp32")
    np.testing.assert_allclose(onnx_side.predict_proba(SENTENCES), probabilities, atol=1e-4)
    rechecked = StanceClassifier.from_pretrained(copy, backend="onnx")  # int8 with fp32 second looks
    assert (rechecked.predict_proba(SENTENCES).argmax(axis=1) == probabilities.argmax(axis=1)).all()
