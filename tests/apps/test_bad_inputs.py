"""Bad and unusual input at every boundary: predict, the predict command, and training's inputs.

Each case either works (odd but valid text is labelled) or fails with an error that names the
file, line, byte, field or type; none may end in a library's traceback.
"""
import json
import shutil

import pytest

from apps.cli import main
from conftest import ROOT, tiny_overrides
from model import StanceClassifier
from model.base_model import BaseModelError
from model.safe_weights import UnsafeWeightsError
from training.config import ConfigError, load_config
from training.data import DataError, load_records
from training.trainer import train

CONFIG = ROOT / "configs" / "default.yaml"
RUN_ON = "The ministry said that the offer " + " ".join(f"and clause {i} of the draft" for i in range(300)) + " was final."

ODD_ARTICLES = {
    "empty": ("", 0),
    "whitespace only": (" \n\t\r\n  \u3000 ", 0),
    "punctuation only": ("... !!! ??? — ;;", 0),
    "HTML markup": ("<html><body><p>Seoul said it <b>would</b> retaliate.</p><script>var x = '<p>';</script>"
                    "<p>Talks&nbsp;resume &amp; continue.</p></body></html>", 3),
    "emoji and flags": ("🇺🇦 Kyiv said talks were over 😡. Moscow 🇷🇺 warned of strikes 💥‼️ 👨‍👩‍👧", 2),
    "control characters": ("Beijing\x00 warned\x1b[31m of\x0b sanctions.\x0cTalks\u2028resume\x7f today.", 2),
    "mixed scripts": ("Пекин заявил, что ответит. 北京表示将采取必要措施。 قالت القاهرة إنها سترد. Berlin declined.", 4),
    "non-English": ("Le gouvernement a rejeté l'offre. Die Regierung drohte mit Sanktionen. ¿Habrá diálogo?", 3),
    "lone surrogates": ("Ankara \ud83d warned of sanctions \udc00 on Monday. Talks resume.", 2),
    "zero-width and BOM": ("\ufeffWashington\u200b warned\u200d of\u2060 tariffs. \u200fTalks resume.", 2),
    "carriage returns only": ("Talks failed.\rThe minister left.\r\rNew paragraph here.", 3),
    "one 20,000-character word": ("x" * 20_000, 2),
    "combining and compatibility characters": ("Pre\u0301sident Erdog\u0306an warned ﬁrms. Ⅻ talks resume.", 2),
    "one huge sentence": (RUN_ON, 1),
}


@pytest.fixture(scope="module")
def classifier(tiny_model):
    return StanceClassifier.from_pretrained(tiny_model)


@pytest.mark.parametrize("kind", ODD_ARTICLES)
def test_odd_articles_are_labelled_not_crashed_on(classifier, kind):
    text, expected_count = ODD_ARTICLES[kind]
    predictions = classifier.predict(text)
    assert len(predictions) == expected_count  # every case names its count: an empty result must fail
    for p in predictions:
        assert 0 <= p.start < p.end <= len(text) and p.text == " ".join(text[p.start:p.end].split())
        assert p.label in classifier.labels


def test_a_sentence_longer_than_the_window_is_flagged(classifier):
    short, long = classifier.predict("Talks resume on Monday. " + RUN_ON)
    assert not short.truncated and long.truncated and long.text.endswith("was final.")


def test_a_one_megabyte_article_is_split_and_labelled(classifier):
    # Long sentences keep the count (and the test's time) modest; splitting still sees every byte.
    clause = "officials from both governments met in the capital to discuss the dispute over the pipeline and the tariffs"
    paragraph = " ".join(f"On day {i} {clause}, then {clause}, while {clause}, and {clause}." for i in range(3)) + "\n\n"
    article = (paragraph * (1_000_000 // len(paragraph) + 1))[:1_000_000]
    predictions = classifier.predict(article)
    assert len(predictions) >= 3 * (1_000_000 // len(paragraph)) and all(p.truncated for p in predictions[:-1])
    assert all(a.end <= b.start for a, b in zip(predictions, predictions[1:])) and predictions[-1].end <= len(article)


@pytest.mark.parametrize("value", [None, b"bytes", ["a", "list"], 42])
def test_non_str_articles_raise_type_error_naming_the_type(classifier, value):
    with pytest.raises(TypeError, match=type(value).__name__):
        classifier.predict(value)


def test_predict_proba_names_a_sentence_that_is_not_a_str(classifier):
    with pytest.raises(TypeError, match="sentence 1 is a NoneType"):
        classifier.predict_proba(["fine", None])


def test_cli_names_the_file_and_byte_that_is_not_utf8(tiny_model, tmp_path, capsys):
    article = tmp_path / "latin1.txt"
    article.write_bytes("Talks resume.\nThe minister said: ".encode() + "très bien".encode("latin-1") + b" indeed.")
    assert main(["predict", str(tiny_model), str(article)]) == 2
    err = capsys.readouterr().err
    assert f"{article}: byte 35 (line 2) is 0xe8, not valid UTF-8" in err and "--errors replace" in err
    assert main(["predict", str(tiny_model), str(article), "--errors", "replace", "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[1]["text"] == "The minister said: tr\ufffds bien indeed." and rows[1]["truncated"] is False


def test_cli_reads_a_bom_and_an_empty_file(tiny_model, tmp_path, capsys):
    bom, empty = tmp_path / "bom.txt", tmp_path / "empty.txt"
    bom.write_bytes(b"\xef\xbb\xbfTalks resume.")
    empty.write_bytes(b"")
    assert main(["predict", str(tiny_model), str(bom), "--format", "jsonl"]) == 0
    assert json.loads(capsys.readouterr().out)["start"] == 0
    assert main(["predict", str(tiny_model), str(empty)]) == 0 and capsys.readouterr().out == ""


# Training inputs: each must fail before the first training step, naming what is wrong.

def test_jsonl_that_is_not_utf8_names_file_line_and_byte(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"article_id": "a", "sentence_id": 0, "text": "ok", "label": "neutral"}\n'
                     b'{"article_id": "a", "sentence_id": 1, "text": "caf\xe9", "label": "neutral"}\n')
    with pytest.raises(DataError, match=f"{path}:2: byte 50 of the line \\(0xe9\\) is not valid UTF-8"):
        load_records(path)


def test_an_article_split_across_two_files_is_refused(tmp_path):
    for name, sid in (("a.jsonl", 0), ("b.jsonl", 1)):
        (tmp_path / name).write_text(json.dumps({"article_id": "x1", "sentence_id": sid, "text": "Hi.", "label": "neutral"}) + "\n")
    with pytest.raises(DataError, match=f"{tmp_path / 'b.jsonl'}:1: field 'article_id' 'x1' already names an article in"):
        load_records(tmp_path)


@pytest.mark.parametrize("override, error, fragment", [
    ("max_length=4096", ConfigError, "field 'max_length' is 4096, but .* reads at most 512 tokens"),
    ("learning_rate=.inf", ConfigError, "learning_rate must be a finite number"),
    ("extra_eval=[1]", ConfigError, "extra_eval must be a list of file paths"),
    ("data=''", ConfigError, "must not be empty"),
])
def test_bad_run_settings_fail_before_training(tiny_corpus, tmp_path, override, error, fragment):
    with pytest.raises(error, match=fragment):
        train(load_config(CONFIG, tiny_overrides(tiny_corpus, tmp_path / "run") + [override]), progress=False)
    assert not (tmp_path / "run").exists()


def test_an_extra_eval_set_sharing_a_training_article_is_refused(tiny_corpus, tmp_path):
    with pytest.raises(DataError, match=f"{tiny_corpus}:\\d+: field 'article_id' .* is also in the (train|dev) split"):
        train(load_config(CONFIG, tiny_overrides(tiny_corpus, tmp_path / "run") + [f"extra_eval=[{tiny_corpus}]"]), progress=False)


def test_an_output_dir_that_is_a_file_is_refused(tiny_corpus, tmp_path):
    (tmp_path / "run").write_text("not a directory")
    with pytest.raises(ConfigError, match="field 'output_dir'.*not a directory"):
        train(load_config(CONFIG, tiny_overrides(tiny_corpus, tmp_path / "run")), progress=False)


def test_a_config_that_is_not_utf8_names_the_byte(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"epochs: 2\nbase_model: caf\xe9\n")
    with pytest.raises(ConfigError, match=f"{path}: byte 25 is not valid UTF-8"):
        load_config(path)


def test_base_models_without_safetensors_are_refused(tiny_corpus, tiny_model, tmp_path):
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_model, pickled)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(UnsafeWeightsError, match="pickle"):
        train(load_config(CONFIG, tiny_overrides(tiny_corpus, tmp_path / "run") + [f"base_model={pickled}"]), progress=False)
    (pickled / "pytorch_model.bin").unlink()
    with pytest.raises(BaseModelError, match="has no model.safetensors"):
        train(load_config(CONFIG, tiny_overrides(tiny_corpus, tmp_path / "run") + [f"base_model={pickled}"]), progress=False)


# Commands on malformed files: exit status 2 and a message naming the file, line and field.

def test_split_eval_names_a_malformed_line_and_a_missing_field(tmp_path, capsys):
    articles, sentences = tmp_path / "articles.jsonl", tmp_path / "sentences.jsonl"
    articles.write_text(json.dumps({"article_id": "a", "text": "Talks resume. The minister left."}) + "\n")
    sentences.write_text(json.dumps({"article_id": "a", "text": "Talks resume."}) + "\n" + '{"article_id": "a", "text": \n')
    assert main(["split-eval", str(articles), str(sentences)]) == 2
    err = capsys.readouterr().err
    assert f"{sentences}:2: not valid JSON" in err and "Traceback" not in err
    sentences.write_text(json.dumps({"article_id": "a", "text": "Talks resume."}) + "\n" + json.dumps({"article_id": "a"}) + "\n")
    assert main(["split-eval", str(articles), str(sentences)]) == 2
    assert f"{sentences}:2: field 'text' must be a string (it is missing)" in capsys.readouterr().err
    assert main(["split-eval", str(articles), str(articles)]) == 0


@pytest.mark.parametrize("name", ["latin1.txt", "latin1.jsonl"])
def test_suggest_names_a_file_that_is_not_utf8(tiny_model, tmp_path, capsys, name):
    corpus = tmp_path / name
    text = "The minister said: très bien. Talks resume."
    corpus.write_bytes((json.dumps({"article_id": "a", "text": text}, ensure_ascii=False) if name.endswith(".jsonl") else text).encode("latin-1"))
    assert main(["suggest", str(tiny_model), str(corpus)]) == 2
    err = capsys.readouterr().err
    assert str(corpus) in err and "not valid UTF-8" in err and "Traceback" not in err


@pytest.mark.parametrize("name", ["latin1.txt", "latin1.jsonl"])
def test_distill_names_an_unlabelled_file_that_is_not_utf8(tiny_model, tiny_corpus, tmp_path, capsys, name):
    unlabelled = tmp_path / name
    text = "The minister said: très bien. Talks resume."
    unlabelled.write_bytes((json.dumps({"text": text}, ensure_ascii=False) if name.endswith(".jsonl") else text).encode("latin-1"))
    overrides = tiny_overrides(tiny_corpus, tmp_path / "student")
    assert main(["distill", str(tiny_model), str(CONFIG), *overrides, "--unlabelled", str(unlabelled)]) == 2
    err = capsys.readouterr().err
    assert str(unlabelled) in err and "not valid UTF-8" in err and not (tmp_path / "student").exists()
