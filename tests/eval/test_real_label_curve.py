import json

import pytest

from conftest import ROOT, tiny_overrides
from eval.real_label_curve import growing_source, real_label_curve
from training.config import ConfigError, load_config


def _overrides(tiny_corpus, own_news, tmp_path):
    base = [o for o in tiny_overrides(tiny_corpus, tmp_path / "unused") if not o.startswith("output_dir")]
    return base + [f"extra_data=['{own_news}']", "extra_dev_fraction=0.34"]


def test_the_curve_grows_only_the_real_source_and_writes_table_plot_and_json(tiny_corpus, own_news, tmp_path):
    overrides = _overrides(tiny_corpus, own_news, tmp_path)
    _, path, available = growing_source(load_config(ROOT / "configs" / "default.yaml", overrides))
    assert path == str(own_news) and available > 10
    points = real_label_curve(str(ROOT / "configs" / "default.yaml"), str(own_news), [0, 10, None], str(tmp_path), overrides)
    assert [p.real_sentences for p in points] == [0, 10, available]
    # The corpus share is the same in every run: the runs differ by exactly the real sentences added.
    assert points[1].train_sentences - points[0].train_sentences == 10
    assert points[2].train_sentences - points[0].train_sentences == available
    assert all(0 <= p.macro_f1 <= 1 for p in points)
    assert "| 0 |" in (tmp_path / "real_label_curve.md").read_text()
    assert [p["real_sentences"] for p in json.loads((tmp_path / "real_label_curve.json").read_text())] == [0, 10, available]
    assert (tmp_path / "real_label_curve.png").stat().st_size > 0


def test_a_config_without_a_real_source_is_refused(tiny_corpus, tmp_path):
    config = load_config(ROOT / "configs" / "default.yaml", tiny_overrides(tiny_corpus, tmp_path / "x"))
    with pytest.raises(ConfigError, match="no extra_data"):
        growing_source(config)


def test_a_finished_point_is_scored_again_not_retrained(tiny_corpus, own_news, tmp_path):
    overrides = _overrides(tiny_corpus, own_news, tmp_path)
    config_path = str(ROOT / "configs" / "default.yaml")
    first = real_label_curve(config_path, str(own_news), [10], str(tmp_path), overrides)
    weights = tmp_path / "real_10" / "model.safetensors"
    written = weights.stat().st_mtime_ns
    again = real_label_curve(config_path, str(own_news), [10], str(tmp_path), overrides + ["num_threads=1"])
    assert weights.stat().st_mtime_ns == written
    assert again[0].macro_f1 == first[0].macro_f1 and again[0].seconds == first[0].seconds
    # A change to what is learned (here the seed) trains the point again.
    real_label_curve(config_path, str(own_news), [10], str(tmp_path), overrides + ["seed=14"])
    assert weights.stat().st_mtime_ns != written
