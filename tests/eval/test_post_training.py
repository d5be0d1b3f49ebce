"""`stance train`'s reports: the test split, metrics.json and the model card, written by eval/post_training.py."""
import json

from conftest import ROOT, tiny_overrides
from eval.post_training import train_and_report
from training.config import load_config


def test_training_writes_a_complete_model_directory(tiny_model):
    for name in ("model.safetensors", "config.json", "tokenizer.json", "label_map.json", "config.yaml",
                 "splits.json", "metrics.json", "README.md", "eval/test/report.md", "eval/test/confusion.png"):
        assert (tiny_model / name).is_file(), name
    metrics = json.loads((tiny_model / "metrics.json").read_text())
    assert 0 <= metrics["macro_f1"] <= 1 and set(metrics["per_class"]) == {"neutral", "conciliatory", "dismissive", "threatening"}
    assert metrics["training"]["steps"] == 4 and len(metrics["dev"]["history"]) == 2
    assert "Test macro-F1" in (tiny_model / "README.md").read_text()


def test_same_seed_repeats_the_metrics(tiny_corpus, tiny_model, tmp_path):
    again = tmp_path / "again"
    report = train_and_report(load_config(ROOT / "configs" / "default.yaml", tiny_overrides(tiny_corpus, again)), progress=False)
    first = json.loads((tiny_model / "metrics.json").read_text())
    second = json.loads((again / "metrics.json").read_text())
    assert first["test"]["confusion"] == second["test"]["confusion"]
    assert first["dev"]["history"] == second["dev"]["history"]
    assert report.test.metrics.confusion == first["test"]["confusion"] and report.run.output_dir == again


def test_a_finished_run_matches_its_config_and_a_field_newer_than_the_run_counts_as_its_default(tiny_corpus, tiny_model, tmp_path):
    import shutil

    import yaml

    from eval.post_training import finished_run_matches

    config = load_config(ROOT / "configs" / "default.yaml", tiny_overrides(tiny_corpus, tiny_model))
    assert finished_run_matches(tiny_model, config)
    assert not finished_run_matches(tiny_model, load_config(ROOT / "configs" / "default.yaml",
                                                            tiny_overrides(tiny_corpus, tiny_model) + ["learning_rate=1e-4"]))
    older = tmp_path / "older"
    shutil.copytree(tiny_model, older)
    saved = yaml.safe_load((older / "config.yaml").read_text())
    del saved["extra_dev_fold"]  # written before the field existed
    (older / "config.yaml").write_text(yaml.safe_dump(saved))
    assert finished_run_matches(older, config)
    assert not finished_run_matches(older, load_config(ROOT / "configs" / "default.yaml",
                                                       tiny_overrides(tiny_corpus, tiny_model) + ["extra_dev_fold=1"]))
