import json

import pytest

from conftest import ROOT, tiny_overrides
from eval.cross_validate import Setting, cross_validate, parse_setting
from training.config import ConfigError

DEFAULT = str(ROOT / "configs" / "default.yaml")


def _overrides(tiny_corpus, own_news, tmp_path):
    base = [o for o in tiny_overrides(tiny_corpus, tmp_path / "unused") if not o.startswith("output_dir")]
    return base + [f"extra_data=['{own_news}']", "extra_dev_fraction=0.34"]


def test_each_setting_trains_once_per_fold_on_disjoint_held_out_articles(tiny_corpus, own_news, tmp_path):
    settings = [Setting("plain", []), Setting("faster", ["learning_rate=1e-4"])]
    runs = cross_validate(DEFAULT, settings, [0, 1], tmp_path, _overrides(tiny_corpus, own_news, tmp_path))
    assert [(r.setting, r.fold) for r in runs] == [("plain", 0), ("faster", 0), ("plain", 1), ("faster", 1)]
    held_out = [set(json.loads((tmp_path / "plain" / f"fold{k}" / "splits.json").read_text())["dev"]) for k in (0, 1)]
    assert held_out[0] and held_out[1] and not held_out[0] & held_out[1]
    assert all(0 <= r.held_out_macro_f1 <= 1 and 0 <= r.test_macro_f1 <= 1 for r in runs)
    table = (tmp_path / "cross_validation.md").read_text()
    assert "| plain (`the config as is`) |" in table and "`learning_rate=1e-4`" in table
    assert "mean on the test split" in table
    assert len(json.loads((tmp_path / "cross_validation.json").read_text())["runs"]) == 4
    # A second call reads the finished runs instead of training them again.
    weights = tmp_path / "faster" / "fold1" / "model.safetensors"
    written = weights.stat().st_mtime_ns
    again = cross_validate(DEFAULT, settings, [1], tmp_path, _overrides(tiny_corpus, own_news, tmp_path))
    assert weights.stat().st_mtime_ns == written and again[1].held_out_macro_f1 == runs[3].held_out_macro_f1


def test_settings_are_checked_before_any_run(tiny_corpus, own_news, tmp_path):
    with pytest.raises(ConfigError, match="unknown"):
        cross_validate(DEFAULT, [Setting("bad", ["no_such_field=1"])], [0], tmp_path, _overrides(tiny_corpus, own_news, tmp_path))
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ConfigError, match="not of the form key=value"):
        parse_setting(["name", "oops"])
