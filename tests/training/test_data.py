import json

import pytest

from training.data import DataError, load_records, split_by_article, subsample_articles, to_dataset


def write(path, rows):
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def good(article="a1", sid=0, label="neutral", **extra):
    return {"article_id": article, "sentence_id": sid, "text": f"Sentence {article} {sid}.", "label": label, "secondary": None, **extra}


@pytest.mark.parametrize("row, fragment", [
    ("{not json", "not valid JSON"),
    ({"article_id": "a1", "sentence_id": 1, "label": "neutral"}, "field 'text' is missing"),
    (good(sid=1, label="angry"), "field 'label' is 'angry'"),
    (good(sid=1, label="conciliatory", secondary="threatening"), "field 'secondary'"),
    (good(sid=-1), "field 'sentence_id'"),
    (good(sid=0), "repeats article"),
])
def test_bad_records_name_file_line_and_field(tmp_path, row, fragment):
    path = write(tmp_path / "bad.jsonl", [good(), row])
    with pytest.raises(DataError) as error:
        load_records(path)
    assert f"{path}:2" in str(error.value) and fragment in str(error.value)


def test_missing_path_and_empty_directory(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_records(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="no \\*.jsonl"):
        load_records(tmp_path)


def test_directory_loads_all_files_and_keeps_metadata(tmp_path):
    write(tmp_path / "a.jsonl", [good("a1", 0, domain="labour")])
    write(tmp_path / "b.jsonl", [good("b1", 0, "threatening")])
    records = load_records(tmp_path)
    assert [r.article_id for r in records] == ["a1", "b1"] and records[0].meta == {"domain": "labour"}
    dataset = to_dataset(records)
    assert dataset.column_names == ["text", "label", "article_id"] and dataset["label"] == [0, 3]


def test_splits_are_by_article_and_fixed_by_seed(tmp_path):
    rows = [good(f"a{i}", j, ["neutral", "threatening"][j % 2]) for i in range(40) for j in range(3)]
    records = load_records(write(tmp_path / "c.jsonl", rows))
    splits = split_by_article(records, 0.1, 0.2, seed=5)
    ids = splits.article_ids()
    assert not set(ids["train"]) & set(ids["dev"]) and not set(ids["train"]) & set(ids["test"]) and not set(ids["dev"]) & set(ids["test"])
    assert (len(ids["dev"]), len(ids["test"]), len(ids["train"])) == (4, 8, 28)
    assert split_by_article(records, 0.1, 0.2, seed=5).article_ids() == ids
    assert split_by_article(records, 0.1, 0.2, seed=6).article_ids() != ids
    half = subsample_articles(splits.train, 0.5, seed=5)
    assert len({r.article_id for r in half}) == 14


def test_too_few_articles_for_the_split(tmp_path):
    records = load_records(write(tmp_path / "d.jsonl", [good("a1"), good("a2")]))
    with pytest.raises(DataError, match="too few"):
        split_by_article(records, 0.1, 0.1, seed=1)


def test_dev_folds_are_disjoint_blocks_and_fold_0_is_the_plain_split(tmp_path):
    rows = [good(f"a{i}", j) for i in range(40) for j in range(2)]
    records = load_records(write(tmp_path / "f.jsonl", rows))
    folds = [set(split_by_article(records, 0.25, 0.0, seed=3, dev_fold=k).article_ids()["dev"]) for k in range(4)]
    assert all(len(f) == 10 for f in folds) and len(set().union(*folds)) == 40
    assert split_by_article(records, 0.25, 0.0, seed=3).article_ids()["dev"] == sorted(folds[0])
    with pytest.raises(DataError, match="dev fold 4 does not exist: 40 articles make 4 folds of 10"):
        split_by_article(records, 0.25, 0.0, seed=3, dev_fold=4)
