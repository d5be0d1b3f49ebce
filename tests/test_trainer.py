import json

import numpy as np
import pytest
from transformers import pipeline

from conftest import ROOT, tiny_overrides
from training.config import load_config
from training.trainer import class_weights, length_grouped_batches, train


def test_training_writes_a_complete_model_directory(tiny_model):
    for name in ("model.safetensors", "config.json", "tokenizer.json", "label_map.json", "config.yaml",
                 "splits.json", "metrics.json", "README.md", "eval/test/report.md", "eval/test/confusion.png"):
        assert (tiny_model / name).is_file(), name
    assert not list(tiny_model.glob("*.bin")), "weights must be safetensors, not pickles"
    metrics = json.loads((tiny_model / "metrics.json").read_text())
    assert 0 <= metrics["macro_f1"] <= 1 and set(metrics["per_class"]) == {"neutral", "conciliatory", "dismissive", "threatening"}
    assert metrics["training"]["steps"] == 4 and len(metrics["dev"]["history"]) == 2
    splits = json.loads((tiny_model / "splits.json").read_text())
    assert not set(splits["train"]) & set(splits["test"]) and not set(splits["train"]) & set(splits["dev"])


def test_model_loads_in_a_plain_transformers_pipeline(tiny_model):
    classify = pipeline("text-classification", model=str(tiny_model))
    out = classify(["Beijing warned it would retaliate.", "The talks resume on Monday."])
    assert [o["label"] in {"neutral", "conciliatory", "dismissive", "threatening"} for o in out] == [True, True]


def test_same_seed_repeats_the_metrics(tiny_corpus, tiny_model, tmp_path):
    again = tmp_path / "again"
    train(load_config(ROOT / "configs" / "default.yaml", tiny_overrides(tiny_corpus, again)), progress=False)
    first = json.loads((tiny_model / "metrics.json").read_text())
    second = json.loads((again / "metrics.json").read_text())
    assert first["test"]["confusion"] == second["test"]["confusion"]
    assert first["dev"]["history"] == second["dev"]["history"]


def test_output_directory_is_replaced_whole(tiny_corpus, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "stale.txt").write_text("from an older run")
    train(load_config(ROOT / "configs" / "default.yaml", tiny_overrides(tiny_corpus, out) + ["max_steps=1"]), progress=False)
    assert not (out / "stale.txt").exists() and (out / "model.safetensors").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no staging directories left behind"


def test_length_grouped_batches_cover_every_index_once():
    lengths = list(np.random.default_rng(0).integers(5, 60, size=203))
    batches = length_grouped_batches(lengths, 16, seed=1, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(203))
    assert batches == length_grouped_batches(lengths, 16, seed=1, epoch=0)
    assert batches != length_grouped_batches(lengths, 16, seed=1, epoch=1)


def test_class_weights_are_inverse_frequency():
    from training.data import Record

    records = [Record("a", i, "x", label) for i, label in enumerate(["neutral"] * 6 + ["threatening"] * 2)]
    weights = class_weights(records).tolist()
    assert weights[0] == pytest.approx(8 / (4 * 6)) and weights[3] == pytest.approx(8 / (4 * 2)) and weights[1] == 1.0
