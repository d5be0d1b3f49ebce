"""Continuing the fine-tuning of a trained stance model (init_from)."""
import json
import shutil

import pytest

from apps.cli import main
from conftest import tiny_overrides
from training.config import ConfigError, load_config
from training.start_model import load_start_model
from training.trainer import train


def test_init_from_continues_from_the_trained_weights(tiny_model, tiny_corpus, tmp_path):
    config = load_config(None, tiny_overrides(tiny_corpus, tmp_path / "cont") + [f"init_from={tiny_model}"])
    start = load_start_model(config)
    from safetensors.torch import load_file

    trained = load_file(tiny_model / "model.safetensors")
    loaded = start.model.state_dict()
    assert all((loaded[name] == tensor).all() for name, tensor in trained.items()), "weights must be the trained ones, head included"
    train(config, progress=False)
    label_map = json.loads((tmp_path / "cont" / "label_map.json").read_text())
    assert label_map["labels"] == ["neutral", "conciliatory", "dismissive", "threatening"]


def test_init_from_refuses_a_directory_without_weights(tiny_model, tiny_corpus, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    (broken / "model.safetensors").unlink()
    config = load_config(None, tiny_overrides(tiny_corpus, tmp_path / "x") + [f"init_from={broken}"])
    with pytest.raises(ConfigError, match="lacks model.safetensors"):
        load_start_model(config)
    assert main(["train", "configs/default.yaml", f"data={tiny_corpus}", f"init_from={broken}", f"output_dir={tmp_path / 'y'}"]) == 2
    assert "init_from" in capsys.readouterr().err


def test_init_from_refuses_another_label_order(tiny_model, tiny_corpus, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(tiny_model, other)
    config_json = json.loads((other / "config.json").read_text())
    config_json["id2label"] = {"0": "threatening", "1": "dismissive", "2": "conciliatory", "3": "neutral"}
    (other / "config.json").write_text(json.dumps(config_json))
    config = load_config(None, tiny_overrides(tiny_corpus, tmp_path / "z") + [f"init_from={other}"])
    with pytest.raises(ConfigError, match="in that order"):
        load_start_model(config)
