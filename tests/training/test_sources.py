"""Several weighted training sources: parsing 'PATH:WEIGHT', repeating and sampling, the
analyst's data trained on whole (or its dev share held out), and colliding article ids."""
import pytest

from conftest import ROOT, tiny_overrides
from training.config import ConfigError, load_config
from training.config import DataSource, parse_source
from training.data import DataError, Record, load_records
from training.sources import build_training_data, weighted


def test_parse_source_reads_an_optional_weight():
    assert parse_source("data/corpus", "data") == DataSource("data/corpus", 1.0)
    assert parse_source("mine.jsonl:3", "extra_data") == DataSource("mine.jsonl", 3.0)
    assert parse_source("mine.jsonl:0.25", "extra_data") == DataSource("mine.jsonl", 0.25)
    assert parse_source("dir:with/colon.jsonl", "extra_data") == DataSource("dir:with/colon.jsonl", 1.0)
    assert parse_source("mine.jsonl:0", "extra_data") == DataSource("mine.jsonl", 0.0)  # only its held-out articles
    with pytest.raises(ConfigError, match=r"extra_data.*must be positive"):
        parse_source("mine.jsonl:-0.5", "extra_data")
    with pytest.raises(ConfigError, match=r"'data'.*must be positive"):
        parse_source("corpus.jsonl:0", "data")
    with pytest.raises(ConfigError, match="extra_data"):
        load_config(ROOT / "configs" / "default.yaml", ["extra_data=[mine.jsonl:-1]"])


def test_weighted_repeats_and_samples():
    records = [Record("a", i, f"s{i}", "neutral") for i in range(10)]
    assert len(weighted(records, 3, seed=0)) == 30
    half = weighted(records, 0.5, seed=0)
    assert len(half) == 5 and len(set(half)) == 5 and half == weighted(records, 0.5, seed=0)
    assert len(weighted(records, 2.5, seed=0)) == 25


def test_extra_data_is_trained_on_whole_with_its_weight(tiny_corpus, own_news, tmp_path):
    plain = build_training_data(load_config(None, tiny_overrides(tiny_corpus, tmp_path / "a")))
    config = load_config(None, tiny_overrides(tiny_corpus, tmp_path / "b") + [f"extra_data=['{own_news}:3']"])
    data = build_training_data(config)
    own = load_records(own_news)
    assert len(data.splits.train) == len(plain.splits.train) + 3 * len(own)
    assert data.splits.dev == plain.splits.dev and data.splits.test == plain.splits.test
    assert [s.weight for s in data.sources] == [1.0, 3.0]


def test_extra_dev_fraction_holds_out_own_articles_for_early_stopping(tiny_corpus, own_news, tmp_path):
    config = load_config(None, tiny_overrides(tiny_corpus, tmp_path / "c") + [f"extra_data=['{own_news}']", "extra_dev_fraction=0.34"])
    data = build_training_data(config)
    dev_articles = {r.article_id for r in data.splits.dev}
    own_articles = {r.article_id for r in load_records(own_news)}
    assert len(dev_articles) == 2 and dev_articles <= own_articles
    assert not dev_articles & {r.article_id for r in data.splits.train}


def test_article_ids_shared_between_sources_are_refused(tiny_corpus, tmp_path):
    config = load_config(None, tiny_overrides(tiny_corpus, tmp_path / "d") + [f"extra_data=['{tiny_corpus}:2']"])
    with pytest.raises(DataError, match="must be unique across data and extra_data"):
        build_training_data(config)


def test_an_extra_source_at_weight_0_only_selects_the_model(tiny_corpus, own_news, tmp_path):
    config = load_config(None, tiny_overrides(tiny_corpus, tmp_path / "z") + [f"extra_data=['{own_news}:0']", "extra_dev_fraction=0.34"])
    data = build_training_data(config)
    own_articles = {r.article_id for r in load_records(own_news)}
    assert not own_articles & {r.article_id for r in data.splits.train}
    assert {r.article_id for r in data.splits.dev} <= own_articles and len(data.splits.dev) > 0


def test_the_main_data_cannot_have_weight_0(tiny_corpus, tmp_path):
    with pytest.raises(ConfigError, match="must be positive"):
        load_config(None, tiny_overrides(tiny_corpus, tmp_path / "w") + [f"data={tiny_corpus}:0"])
