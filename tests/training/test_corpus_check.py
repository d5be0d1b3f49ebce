import json
import os
import subprocess
import sys

from conftest import CORPUS, ROOT
from training.corpus_check import check_corpus, near_duplicates, render_data_card
from training.data import load_records


def test_the_committed_corpus_passes_every_check():
    report = check_corpus(CORPUS, ROOT / "data" / "contrast.jsonl")
    assert report.problems == []
    assert report.records >= 6000 and report.articles >= 400
    assert len(report.by_domain) >= 10
    card = render_data_card(report, "data/corpus", 150)
    assert "By domain" in card and "By register" in card and "By split" in card


def test_contrast_set_has_enough_pairs():
    pairs = {}
    for line in (ROOT / "data" / "contrast.jsonl").open(encoding="utf-8"):
        record = json.loads(line)
        pairs.setdefault(record["article_id"], []).append(record["label"])
    assert len(pairs) >= 150 and all(len(set(labels)) == 2 for labels in pairs.values())


def test_near_duplicates_are_found_and_distinct_sentences_are_not():
    texts = [
        "The ministry said on Tuesday it would impose duties of 25 pct on steel imports from the bloc.",
        "The ministry said on Tuesday it would impose duties of 25 pct on steel imports from the bloc, officials said.",
        "Union leaders agreed to return to talks after a night of negotiations with the rail operator.",
    ]
    pairs = near_duplicates(texts)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)]


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_problems_are_reported(tmp_path):
    base = "Officials in the capital said the negotiations over the fishing quotas would continue next week in Oslo number"
    rows = [{"article_id": f"a{i}", "sentence_id": 0, "text": f"{base} {i} {'x' * i}.", "label": "neutral"} for i in range(20)]
    rows.append({"article_id": "a0", "sentence_id": 2, "text": "A gap in numbering.", "label": "threatening"})
    _write(tmp_path / "corpus.jsonl", rows)
    _write(tmp_path / "contrast.jsonl", [
        {"article_id": "c1", "sentence_id": 0, "text": "Seoul warned it would retaliate.", "label": "threatening"},
        {"article_id": "c1", "sentence_id": 1, "text": "Seoul warned it might retaliate.", "label": "threatening"},
    ])
    problems = "\n".join(check_corpus(tmp_path / "corpus.jsonl", tmp_path / "contrast.jsonl", dev_fraction=0.2, test_fraction=0.2).problems)
    for fragment in ("neutral share", "conciliatory share", "near-duplicate", "sentence_ids are not", "hard case 'headline'",
                     "contrast pair c1: both sentences are threatening"):
        assert fragment in problems


def test_near_duplicate_search_repeats_whatever_the_hash_seed():
    """Python salts hash() of a str per process; the search must give the same pairs in every run."""
    script = ("import json; from conftest import CORPUS; from training.corpus_check import near_duplicates; "
              "from training.data import load_records; "
              "texts = [r.text for r in load_records(CORPUS)][:1500]; "
              "texts += [t + ' indeed' for t in texts[:40]]; "
              "print(json.dumps(near_duplicates(texts, threshold=0.5)))")
    runs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
        runs.append(subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout)
    assert runs[0] == runs[1] and len(json.loads(runs[0])) >= 40


def test_the_default_split_keeps_every_corpus_article_in_one_split():
    """What the data card's split table shows: every sentence in one split, each article whole."""
    from training.config import load_config
    from training.sources import build_training_data

    records = load_records(CORPUS)
    splits = build_training_data(load_config(ROOT / "configs" / "default.yaml", [f"data={CORPUS}"])).splits
    owner = {}
    for name in ("train", "dev", "test"):
        for r in getattr(splits, name):
            assert owner.setdefault(r.article_id, name) == name, f"article {r.article_id} is in {owner[r.article_id]} and {name}"
    assert sorted((r.article_id, r.sentence_id) for part in (splits.train, splits.dev, splits.test) for r in part) == \
        sorted((r.article_id, r.sentence_id) for r in records)
