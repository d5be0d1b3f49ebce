import subprocess
import sys

import numpy as np
import pytest

from model import SentencePrediction, StanceClassifier
from model.classifier import ModelDirectoryError

ARTICLE = ("CHINA VOWS RESPONSE TO NEW CHIP CURBS\nBeijing said on Friday it would take \"all necessary measures\"\n"
           "if Washington pressed ahead.The commerce ministry added it remained open to talks.")


def test_predict_labels_every_sentence_with_spans(tiny_model):
    classifier = StanceClassifier.from_pretrained(tiny_model)
    predictions = classifier.predict(ARTICLE)
    assert len(predictions) == 3 and all(isinstance(p, SentencePrediction) for p in predictions)
    for p in predictions:
        assert " ".join(ARTICLE[p.start:p.end].split()) == p.text
        assert p.label in classifier.labels and p.label == max(p.probabilities, key=p.probabilities.get)
        assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-5)


def test_label_sentences_from_probabilities_computed_elsewhere_equal_predict(tiny_model):
    from model.sentences import split_sentences

    classifier = StanceClassifier.from_pretrained(tiny_model)
    sentences = split_sentences(ARTICLE)
    probabilities = classifier.predict_proba([s.text for s in sentences])
    assert classifier.label_sentences(sentences, probabilities, 0.9) == classifier.predict(ARTICLE, min_confidence=0.9)
    with pytest.raises(ValueError, match="3 sentences but 2 rows"):
        classifier.label_sentences(sentences, probabilities[:2])


def test_batched_sorted_inference_keeps_input_order(tiny_model):
    classifier = StanceClassifier.from_pretrained(tiny_model, batch_size=2)
    sentences = ["Short one.", "A much longer sentence about tariffs imposed on steel by the government.", "Mid length text here.",
                 "Talks resume.", "The minister said the offer was out of the question and would not be discussed."]
    batched = classifier.predict_proba(sentences)
    one_by_one = np.vstack([classifier.predict_proba([s]) for s in sentences])
    assert batched.shape == (5, 4)
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    assert classifier.predict_proba([]).shape == (0, 4)


def test_bad_inputs_are_named(tiny_model, tmp_path):
    classifier = StanceClassifier.from_pretrained(tiny_model)
    with pytest.raises(TypeError, match="list of sentences"):
        classifier.predict_proba("one string")
    with pytest.raises(TypeError, match="article text as a str"):
        classifier.predict(["a", "b"])
    with pytest.raises(ModelDirectoryError, match="does not exist"):
        StanceClassifier.from_pretrained(tmp_path / "nope")
    with pytest.raises(ModelDirectoryError, match="lacks config.json"):
        StanceClassifier.from_pretrained(tmp_path)


def test_serving_imports_nothing_from_training_or_eval():
    code = ("import sys, model; from model import StanceClassifier; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('training', 'eval')]; print(bad); assert not bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_planned_passes_give_the_same_probabilities_as_fixed_passes(tiny_model):
    classifier = StanceClassifier.from_pretrained(tiny_model, batch_size=3)
    sentences = [f"Officials said talks {'would go on ' * n}next week." for n in range(12)] + ["Tariffs.", "Beijing warned Washington."]
    classifier.pass_cost_tokens = 1e9  # the fewest, fullest passes
    fixed = classifier.predict_proba(sentences)
    classifier.pass_cost_tokens = 0.0  # a pass per distinct length
    planned = classifier.predict_proba(sentences)
    np.testing.assert_allclose(planned, fixed, atol=1e-5)
