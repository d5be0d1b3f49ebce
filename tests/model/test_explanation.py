"""Occlusion explanations: the mechanism on the tiny model, the words on a fully trained one."""
import pytest

from model import StanceClassifier
from model.explanation import Explanation, explain_sentences, occluded_variants

THREAT = "Washington warned of sanctions if Ankara presses on"


def test_weights_are_the_probability_lost_when_each_word_is_removed(tiny_model):
    classifier = StanceClassifier.from_pretrained(tiny_model)
    sentence = "Turkey's S-400 deal, Washington warned, could bring sanctions."
    explanation = classifier.explain(sentence)
    assert isinstance(explanation, Explanation)
    assert [w.word for w in explanation.words] == ["Turkey's", "S-400", "deal", "Washington", "warned", "could", "bring", "sanctions"]
    assert all(sentence[w.start:w.end] == w.word for w in explanation.words)
    full = classifier.predict_proba([sentence])[0]
    assert explanation.label == classifier.labels[full.argmax()] and explanation.probability == pytest.approx(float(full.max()), abs=1e-6)
    label = classifier.labels.index(explanation.label)
    without = classifier.predict_proba([
        "S-400 deal, Washington warned, could bring sanctions.",  # "Turkey's" removed
        "Turkey's deal, Washington warned, could bring sanctions.",  # "S-400" removed whole, not token by token
    ])[:, label]
    assert explanation.words[0].weight == pytest.approx(full[label] - without[0], abs=1e-5)
    assert explanation.words[1].weight == pytest.approx(full[label] - without[1], abs=1e-5)
    top = explanation.top_words(3)
    assert len(top) <= 3 and all(w.weight > 0 for w in top)
    assert [w.weight for w in top] == sorted((w.weight for w in top), reverse=True)


def test_many_sentences_in_one_call_match_one_by_one(tiny_model):
    classifier = StanceClassifier.from_pretrained(tiny_model)
    sentences = ["Beijing rejected the demand.", THREAT, "Talks resume on Monday."]
    together = explain_sentences(classifier, sentences)
    for sentence, explanation in zip(sentences, together):
        alone = classifier.explain(sentence)
        assert explanation.label == alone.label
        assert [w.weight for w in explanation.words] == pytest.approx([w.weight for w in alone.words], abs=1e-5)
    assert occluded_variants("Talks resume.")[1] == ["resume.", "Talks ."]
    with pytest.raises(ValueError, match="one non-empty sentence"):
        classifier.explain("   ")


def test_a_trained_model_points_at_the_threat(trained_model):
    explanation = StanceClassifier.from_pretrained(trained_model).explain(THREAT)
    top = [w.word for w in explanation.top_words(3)]
    assert explanation.label == "threatening"
    assert "warned" in top or "sanctions" in top, top
