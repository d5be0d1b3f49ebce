"""Teacher labels stored without text: written by a real classifier, read back, joined with the
articles by span and hash; changed or missing articles are dropped and counted, bad files named."""
import json

import numpy as np
import pytest

from model import StanceClassifier
from model.articles import Article
from model.labels import LABELS
from model.sentences import split_sentences
from training.teacher_labels import (TeacherLabelsError, join_text, label_articles, read_teacher_labels,
                                     sentence_digest, write_teacher_labels)

ARTICLES = [
    Article("a1", "Beijing warned it would retaliate against new tariffs. Talks resume on Monday in Geneva."),
    Article("a2", "The ministry rejected the demand outright.\n\nBoth sides agreed to keep talking."),
]


@pytest.fixture(scope="module")
def labelled(tiny_model, tmp_path_factory):
    teacher = StanceClassifier.from_pretrained(tiny_model, backend="torch")
    labels = label_articles(teacher, ARTICLES, teacher_name="tiny", articles_file="pool.jsonl", progress=False)
    path = tmp_path_factory.mktemp("teacher") / "pool.teacher.jsonl"
    write_teacher_labels(labels, path)
    return teacher, labels, path


def test_file_holds_spans_hashes_and_probabilities_but_no_text(labelled):
    _, labels, path = labelled
    raw = path.read_text(encoding="utf-8")
    assert "retaliate" not in raw and "ministry" not in raw
    header, *rows = [json.loads(line) for line in raw.splitlines()]
    assert header["labels"] == list(LABELS) and header["sentences"] == len(rows) == 4
    first = ARTICLES[0].text[rows[0]["start"]:rows[0]["end"]]
    assert rows[0]["sha256_16"] == sentence_digest(first) and first.startswith("Beijing")


def test_joined_text_and_probabilities_match_the_teacher(labelled):
    teacher, _, path = labelled
    joined = join_text(read_teacher_labels(path), ARTICLES)
    expected = [s.text for article in ARTICLES for s in split_sentences(article.text)]
    assert joined.texts == expected and joined.article_ids == ["a1", "a1", "a2", "a2"]
    columns = [teacher.labels.index(label) for label in LABELS]
    np.testing.assert_allclose(joined.probabilities, teacher.predict_proba(expected)[:, columns], atol=1e-3)
    assert joined.missing_articles == 0 and joined.changed_sentences == 0


def test_edited_and_absent_articles_are_dropped_and_counted(labelled):
    _, _, path = labelled
    edited = Article("a1", ARTICLES[0].text.replace("Beijing", "Pekingg"))
    joined = join_text(read_teacher_labels(path), [edited])
    assert joined.texts == ["Talks resume on Monday in Geneva."]
    assert joined.changed_sentences == 1 and joined.missing_articles == 1


@pytest.mark.parametrize("line, message", [
    ("{not json", "not valid JSON"),
    (json.dumps({"article_id": "a1", "start": 0, "end": 5, "sha256_16": "x"}), "field 'p'"),
    (json.dumps({"article_id": "a1", "start": 5, "end": 2, "sha256_16": "x", "p": [0.25] * 4}), "start < end"),
    (json.dumps({"article_id": "a1", "start": 0, "end": 5, "sha256_16": "x", "p": [0.5, 0.5]}), "4 probabilities"),
])
def test_bad_rows_name_file_line_and_field(labelled, tmp_path, line, message):
    _, _, path = labelled
    bad = tmp_path / "bad.jsonl"
    header = path.read_text(encoding="utf-8").splitlines()[0]
    bad.write_text(header + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(TeacherLabelsError, match=rf"bad.jsonl:2: .*{message}"):
        read_teacher_labels(bad)


def test_a_file_without_the_header_is_refused(tmp_path):
    bad = tmp_path / "plain.jsonl"
    bad.write_text(json.dumps({"article_id": "a1"}) + "\n", encoding="utf-8")
    with pytest.raises(TeacherLabelsError, match="plain.jsonl:1: the first line must be a header"):
        read_teacher_labels(bad)
    with pytest.raises(TeacherLabelsError, match="does not exist"):
        read_teacher_labels(tmp_path / "absent.jsonl")
