import pytest

from apps.cli import build_parser
from training.config import ConfigError, TrainConfig, field_help, load_config

ROOT_CONFIG = "configs/default.yaml"


def test_default_config_loads_and_overrides_are_typed():
    config = load_config(ROOT_CONFIG, ["epochs=2", "learning_rate=1e-4", "extra_eval=a.jsonl"])
    assert isinstance(config, TrainConfig)
    assert config.epochs == 2 and config.learning_rate == 1e-4 and config.extra_eval == ["a.jsonl"]


def test_unknown_key_lists_the_valid_ones(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("epochs: 2\nlearning_rat: 0.1\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert "learning_rat" in str(error.value) and "learning_rate" in str(error.value) and str(path) in str(error.value)


@pytest.mark.parametrize("override, fragment", [
    ("epochs=two", "field 'epochs' must be int"),
    ("dev_fraction=0.95", "test_fraction must be below 1"),
    ("class_weighting=sometimes", "class_weighting"),
    ("train_seed=-2", "train_seed must be -1"),
    ("epochs", "key=value"),
])
def test_bad_values_are_named(override, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config(ROOT_CONFIG, [override])


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(listed)


def test_help_documents_every_field():
    text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    for name in field_help():
        assert name in text


def test_readme_config_table_is_the_one_generated_from_the_dataclass():
    """The README's table of config fields is rendered from the dataclass (eval/results_tables.py):
    defaults there cannot drift from the code."""
    from conftest import ROOT
    from eval.results_tables import render_config_fields

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert render_config_fields(None) in readme
    assert "| `epochs` | Passes over the training articles (an upper bound when early stopping triggers). | `2` |" in readme