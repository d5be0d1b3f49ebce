"""`stance suggest`: reading unlabelled articles, uncertainty with diversity, and the labelling
file it writes, which trains once its labels are filled in."""
import json

import numpy as np
import pytest

from apps.cli import main
from conftest import ROOT, tiny_overrides
from model import StanceClassifier
from model.articles import ArticleFileError
from training.config import load_config
from training.data import load_records
from training.suggest import Candidate, load_unlabelled, margin_uncertainty, select_diverse, suggest
from training.trainer import train


@pytest.fixture(scope="module")
def articles(tmp_path_factory):
    """Twelve unlabelled articles: the sentences of contrast-set pairs joined into paragraphs."""
    by_article: dict[str, list[str]] = {}
    for record in load_records(ROOT / "data" / "contrast.jsonl"):
        by_article.setdefault(record.article_id, []).append(record.text)
    out = tmp_path_factory.mktemp("unlabelled") / "articles.jsonl"
    rows = [{"article_id": f"mine-{i}", "text": " ".join(sentences)} for i, sentences in enumerate(list(by_article.values())[:12])]
    out.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return out


def test_load_unlabelled_reads_articles_sentences_and_text_folders(articles, tmp_path):
    candidates = load_unlabelled(articles)
    assert {c.article_id for c in candidates} == {f"mine-{i}" for i in range(12)}
    second = next(c for c in candidates if c.sentence_id == 1)
    first = next(c for c in candidates if c.article_id == second.article_id and c.sentence_id == 0)
    assert second.previous == first.text and second.first == first.text and first.previous is None
    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "wire-1.txt").write_text("Paris rejected the offer. Berlin said talks would go on.")
    (folder / "split.jsonl").write_text('{"article_id": "s", "sentence_id": 4, "text": "They refused."}\n')
    loaded = load_unlabelled(folder)
    assert [(c.article_id, c.sentence_id) for c in loaded] == [("wire-1", 0), ("wire-1", 1), ("s", 4)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"article_id": "a", "text": "ok"}\n{"article_id": "b"}\n')
    with pytest.raises(ArticleFileError, match=rf"{bad}:2: field 'text'"):
        load_unlabelled(bad)


def test_margin_uncertainty_ranks_ties_first():
    p = np.array([[0.5, 0.5, 0, 0], [0.9, 0.05, 0.05, 0], [0.4, 0.3, 0.2, 0.1]])
    assert margin_uncertainty(p).tolist() == pytest.approx([1.0, 0.15, 0.9])


def test_selection_skips_near_duplicates_and_spreads_over_articles():
    texts = ["Moscow threatened to cut gas supplies to Kyiv."] * 4 + [
        "The minister rejected the proposal outright.", "Both sides agreed to resume talks.",
        "Tariffs on steel will rise next month.", "The strike was called off after a pay offer."]
    candidates = [Candidate("a" if i < 6 else "b", i, text) for i, text in enumerate(texts)]
    uncertainty = np.array([0.99, 0.98, 0.97, 0.96, 0.5, 0.4, 0.3, 0.2])
    picked = select_diverse(candidates, uncertainty, n=4, max_per_article=2)
    assert picked[0] == 0 and not {1, 2, 3} & set(picked), "copies of the first pick are near-duplicates"
    assert sum(candidates[i].article_id == "a" for i in picked) == 2 and len(picked) == 4


def test_suggest_command_writes_the_labelling_format_and_the_labels_train(tiny_model, tiny_corpus, articles, tmp_path, capsys):
    out = tmp_path / "to_label.jsonl"
    assert main(["suggest", str(tiny_model), str(articles), "-n", "10", "--out", str(out)]) == 0
    assert "10 of" in capsys.readouterr().out
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 10 and len({(r["article_id"], r["sentence_id"]) for r in rows}) == 10
    assert all(r["label"] == "" and "previous" in r and "first" in r and 0 <= r["uncertainty"] <= 1 for r in rows)
    one = tmp_path / "one_article.jsonl"
    assert main(["suggest", str(tiny_model), str(articles), "--sentences", "3", "--max-articles", "1", "--out", str(one)]) == 0
    assert len({json.loads(line)["article_id"] for line in one.read_text().splitlines()}) == 1
    capsys.readouterr()
    # The analyst fills in the labels, and the file trains as it is (with its own context).
    for row in rows:
        row["label"] = row["predicted"]
    out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    run = tmp_path / "adapted"
    train(load_config(None, tiny_overrides(tiny_corpus, run) + [f"extra_data=['{out}:2']", f"init_from={tiny_model}",
                                                                "context=previous", "max_steps=2"]), progress=False)
    assert StanceClassifier.from_pretrained(run).context == "previous"


def test_suggest_scores_with_the_models_context_and_rejects_bad_n(tiny_model):
    classifier = StanceClassifier.from_pretrained(tiny_model)
    candidates = [Candidate("a", 0, "Paris rejected the offer outright."), Candidate("a", 1, "Berlin warned of sanctions.")]
    assert len(suggest(classifier, candidates, 5)) == 2
    with pytest.raises(ValueError, match="at least 1"):
        suggest(classifier, candidates, 0)


def test_suggest_command_reports_a_missing_corpus_and_a_bad_count(tiny_model, tmp_path, capsys):
    assert main(["suggest", str(tiny_model), str(tmp_path / "nothing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["suggest", str(tiny_model), str(tmp_path / "nothing"), "-n", "0"])
    assert stop.value.code == 2 and "at least 1" in capsys.readouterr().err
