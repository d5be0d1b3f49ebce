"""The model directory's format, read and written through model/model_dir.py alone."""
import json

from model.labels import LABELS
from model.model_dir import (DEFAULT_MAX_LENGTH, LABEL_MAP_FILE, LabelMap, read_id2label, read_label_map, read_splits,
                             write_label_map, write_splits)


def test_label_map_round_trip_and_the_defaults_of_an_older_directory(tmp_path):
    assert read_label_map(tmp_path) == LabelMap((), DEFAULT_MAX_LENGTH, "none")
    write_label_map(tmp_path, LABELS, 64, "previous")
    assert read_label_map(tmp_path) == LabelMap(LABELS, 64, "previous")
    raw = json.loads((tmp_path / LABEL_MAP_FILE).read_text())
    assert raw["label2id"] == {label: i for i, label in enumerate(LABELS)}


def test_id2label_in_output_order(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"id2label": {"1": "b", "0": "a"}}))
    assert read_id2label(tmp_path) == ("a", "b")
    (tmp_path / "config.json").write_text("{}")
    assert read_id2label(tmp_path) == ()


def test_splits_record_resolved_data_paths(tmp_path):
    assert read_splits(tmp_path) is None
    write_splits(tmp_path, {"train": ["a"], "dev": ["b"], "test": []}, "data/corpus", ["extra.jsonl"])
    splits = read_splits(tmp_path)
    assert splits["train"] == ["a"] and splits["data"].endswith("data/corpus") and splits["data"].startswith("/")
    assert splits["extra_data"][0].endswith("extra.jsonl")


def test_the_trained_directory_is_read_through_the_same_module(tiny_model):
    assert read_id2label(tiny_model) == LABELS and read_label_map(tiny_model).labels == LABELS
    assert set(read_splits(tiny_model)) >= {"train", "dev", "test", "data", "extra_data"}
