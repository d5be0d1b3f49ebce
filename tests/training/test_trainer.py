import json
from pathlib import Path

import numpy as np
import pytest
from transformers import pipeline

from conftest import ROOT, tiny_overrides
from training.config import load_config
from training.objective import class_weights
from training.trainer import length_grouped_batches, train


def test_training_saves_the_model_and_leaves_reports_to_its_caller(tiny_corpus, tmp_path):
    out = tmp_path / "bare"
    result = train(load_config(ROOT / "configs" / "default.yaml", tiny_overrides(tiny_corpus, out)), progress=False)
    for name in ("model.safetensors", "config.json", "tokenizer.json", "label_map.json", "config.yaml", "splits.json",
                 "calibration.json"):
        assert (out / name).is_file(), name
    assert not list(out.glob("*.bin")), "weights must be safetensors, not pickles"
    assert not (out / "metrics.json").exists() and not (out / "eval").exists(), "reports are written by eval/post_training.py"
    assert result.steps == 4 and len(result.dev_history) == 2 and result.output_dir == out
    splits = json.loads((out / "splits.json").read_text())
    assert not set(splits["train"]) & set(splits["test"]) and not set(splits["train"]) & set(splits["dev"])


def test_model_loads_in_a_plain_transformers_pipeline(tiny_model):
    classify = pipeline("text-classification", model=str(tiny_model))
    out = classify(["Beijing warned it would retaliate.", "The talks resume on Monday."])
    assert [o["label"] in {"neutral", "conciliatory", "dismissive", "threatening"} for o in out] == [True, True]


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


def test_a_training_seed_keeps_the_article_split_and_changes_the_weights(tiny_corpus, tmp_path):
    """Seed-ensemble members must hold out the same articles (the student's dev and test) yet differ."""
    from safetensors.numpy import load_file

    runs = {}
    for name, extra in (("base", []), ("member", ["train_seed=29"])):
        out = tmp_path / name
        train(load_config(ROOT / "configs" / "default.yaml", tiny_overrides(tiny_corpus, out) + extra), progress=False)
        runs[name] = out
    splits = [json.loads((runs[n] / "splits.json").read_text()) for n in runs]
    assert splits[0] == splits[1]
    weights = [load_file(str(runs[n] / "model.safetensors")) for n in runs]
    assert any(not np.array_equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert load_config(ROOT / "configs" / "default.yaml", ["train_seed=29"]).run_seed == 29
    assert load_config(ROOT / "configs" / "default.yaml").run_seed == 13


def test_frozen_word_embeddings_stay_as_pretrained_while_the_rest_trains(tiny_corpus, tmp_path):
    from safetensors.numpy import load_file

    from model.base_model import resolve_base_model

    out = tmp_path / "frozen"
    train(load_config(ROOT / "configs" / "default.yaml", tiny_overrides(tiny_corpus, out) + ["freeze_word_embeddings=true"]),
          progress=False)
    trained = load_file(str(out / "model.safetensors"))
    base = load_file(str(next(Path(resolve_base_model("sentence-transformers/all-MiniLM-L6-v2")).glob("*.safetensors"))))
    name = next(k for k in trained if k.endswith("word_embeddings.weight"))
    base_name = next(k for k in base if k.endswith("word_embeddings.weight"))
    np.testing.assert_array_equal(trained[name], base[base_name])
    layer = next(k for k in trained if k.endswith("layer.0.attention.self.query.weight"))
    assert not np.array_equal(trained[layer], base[next(k for k in base if k.endswith("layer.0.attention.self.query.weight"))])
