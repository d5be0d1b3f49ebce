"""The previous (and first) sentence as a second segment: how contexts are built, that training
and serving encode them alike, and that a context model keeps its mode from training to ONNX."""
import json

import numpy as np
import pytest
from transformers import AutoTokenizer

from conftest import ROOT, tiny_overrides
from eval.evaluate import evaluate_records
from model import StanceClassifier
from model.context import article_contexts
from model.encoding import SentenceEncoder
from training.config import ConfigError, load_config
from training.data import Record, contexts_for, load_records, record_contexts
from training.trainer import train

ARTICLE = ["UNION THREATENS STRIKE", "The union met on Monday.", "It said it would strike if talks failed."]


@pytest.fixture(scope="module")
def context_model(tiny_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "context"
    train(load_config(ROOT / "configs" / "default.yaml", tiny_overrides(tiny_corpus, out) + ["context=previous_and_first"]),
          progress=False)
    return out


def test_article_contexts_per_mode():
    assert article_contexts(ARTICLE, "none") == ["", "", ""]
    assert article_contexts(ARTICLE, "previous") == ["", ARTICLE[0], ARTICLE[1]]
    # The second sentence's previous sentence is the first one: it is not repeated.
    assert article_contexts(ARTICLE, "previous_and_first") == ["", ARTICLE[0], f"{ARTICLE[0]} {ARTICLE[1]}"]
    with pytest.raises(ValueError, match="context mode"):
        article_contexts(ARTICLE, "next")


def test_record_contexts_use_neighbours_or_the_records_own_context():
    records = [Record("a", i, text, "neutral") for i, text in enumerate(ARTICLE)]
    # A suggested sentence whose neighbours were never labelled carries its context itself.
    records.append(Record("b", 7, "He refused.", "dismissive", meta={"previous": "Paris made an offer.", "first": "TALKS"}))
    contexts = record_contexts(records, "previous_and_first")
    assert [contexts[("a", i)] for i in range(3)] == article_contexts(ARTICLE, "previous_and_first")
    assert contexts[("b", 7)] == "TALKS Paris made an offer."
    assert contexts_for(records, "none") is None
    assert contexts_for(records, "previous") == ["", ARTICLE[0], ARTICLE[1], "Paris made an offer."]


def test_serving_encodes_pairs_exactly_as_training_does(tiny_model):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    contexts = article_contexts(ARTICLE, "previous_and_first")
    training = tokenizer(ARTICLE, contexts, truncation=True, max_length=12)
    served = SentenceEncoder.from_file(tiny_model, 12).encode(ARTICLE, contexts)
    for row, ids in enumerate(training["input_ids"]):
        n = int(served.lengths[row])
        assert served.input_ids[row, :n].tolist() == ids
        assert served.token_type_ids[row, :n].tolist() == training["token_type_ids"][row]
    assert (served.token_type_ids == 1).any(), "the context must be a second segment"


def test_context_model_stores_its_mode_and_predicts_with_it(context_model, tiny_corpus):
    assert json.loads((context_model / "label_map.json").read_text())["context"] == "previous_and_first"
    assert load_config(context_model / "config.yaml").context == "previous_and_first"
    classifier = StanceClassifier.from_pretrained(context_model, backend="torch")
    assert classifier.context == "previous_and_first"
    article = " ".join(ARTICLE[1:])
    predicted = classifier.predict(article)
    # predict() gives each sentence its article context; predict_proba on the split sentences does the same.
    rows = classifier.predict_proba([p.text for p in predicted])
    assert np.allclose(rows, [[p.probabilities[label] for label in classifier.labels] for p in predicted], atol=1e-5)
    without = classifier.predict_proba([p.text for p in predicted], ["", ""])
    assert not np.allclose(rows[1], without[1]), "the second sentence must read the first as context"
    records = load_records(tiny_corpus)[:30]
    scored = evaluate_records(classifier, records, name="context", data="tiny", bootstrap_samples=0)
    assert scored.metrics.n == 30


def test_context_model_gives_the_same_labels_on_onnx(context_model, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import shutil

    from model.export.onnx_export import export_onnx

    path = tmp_path / "context"
    shutil.copytree(context_model, path)
    export_onnx(path, int8=False)
    sentences = [r.text for r in load_records(ROOT / "data" / "contrast.jsonl")[:40]]
    torch_rows = StanceClassifier.from_pretrained(path, backend="torch").predict_proba(sentences)
    onnx_rows = StanceClassifier.from_pretrained(path, backend="onnx", precision="fp32").predict_proba(sentences)
    assert np.abs(torch_rows - onnx_rows).max() < 1e-3


def test_unknown_context_mode_is_a_config_error():
    with pytest.raises(ConfigError, match="context must be one of"):
        load_config(ROOT / "configs" / "default.yaml", ["context=next"])
