"""Shared fixtures: offline hub, the shared dev data (skipped when absent), a tiny trained model."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Tests never touch the network: known base-model names resolve to the packaged copy.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = ROOT / "data" / "corpus"


def corpus_article_texts(n: int) -> dict[str, str]:
    """The first `n` articles of the team's corpus by id, their sentences joined into paragraphs."""
    articles: dict[str, list[str]] = {}
    for file in sorted(CORPUS.glob("*.jsonl")):
        for line in file.open(encoding="utf-8"):
            record = json.loads(line)
            if record["article_id"] not in articles and len(articles) == n:
                return {key: "\n\n".join(sentences) for key, sentences in articles.items()}
            articles.setdefault(record["article_id"], []).append(record["text"])
    return {key: "\n\n".join(sentences) for key, sentences in articles.items()}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, which exists on the team's machines and in CI but not for users."""
    path = SHARED / "data"
    if not (path / "realnews_dev.jsonl").is_file():
        pytest.skip("../shared/data is absent (it exists only on the team's machines and in CI)")
    return path


@pytest.fixture(scope="session")
def seed_article() -> str:
    path = SHARED / "seeds" / "s400_article.txt"
    if not path.is_file():
        pytest.skip("../shared/seeds is absent (it exists only on the team's machines and in CI)")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """The first 16 articles of the team's corpus: small enough to train on in seconds."""
    out = tmp_path_factory.mktemp("corpus") / "tiny.jsonl"
    out.write_text(first_articles(sorted(CORPUS.glob("*.jsonl")), 16), encoding="utf-8")
    return out


def first_articles(files: list[Path], n: int) -> str:
    """The JSONL lines of the first `n` articles found in `files`, in order."""
    kept, lines = [], []
    for file in files:
        for line in file.open(encoding="utf-8"):
            article = json.loads(line)["article_id"]
            if article not in kept:
                if len(kept) == n:
                    return "".join(lines)
                kept.append(article)
            lines.append(line)
    return "".join(lines)


def tiny_overrides(data: Path, output_dir: Path) -> list[str]:
    """A run of a few steps on short sequences that still goes through every code path."""
    return [f"data={data}", f"output_dir={output_dir}", "max_steps=4", "max_length=32", "batch_size=8",
            "eval_every=2", "bootstrap_samples=50", "dev_fraction=0.15", "test_fraction=0.15", "extra_eval=[]",
            # The default recipe's real news and teacher labels would make every tiny run a long one.
            "optional_extra_data=[]", "optional_extra_eval=[]", "extra_dev_fraction=0", "teacher_labels=''", "teacher_articles=''"]


@pytest.fixture(scope="session")
def tiny_model(tiny_corpus, tmp_path_factory) -> Path:
    """A model directory produced by the real training loop on the tiny corpus."""
    from eval.post_training import train_and_report
    from training.config import load_config

    out = tmp_path_factory.mktemp("runs") / "tiny"
    train_and_report(load_config(ROOT / "configs" / "default.yaml", tiny_overrides(tiny_corpus, out)), progress=False)
    return out


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """A fully trained model, for tests of what only a real model knows (which words mean a threat).

    Taken from $STANCE_TRAINED_MODEL, else runs/default as scripts/quickstart.sh writes it. A
    model that learns this needs minutes of training, more than a test run may spend.
    """
    path = Path(os.environ.get("STANCE_TRAINED_MODEL", ROOT / "runs" / "default"))
    if not (path / "model.safetensors").is_file():
        pytest.skip(f"no trained model at {path}: run scripts/quickstart.sh or set STANCE_TRAINED_MODEL")
    return path


@pytest.fixture(scope="session")
def own_news(tmp_path_factory) -> Path:
    """Six articles of the corpus's last file, which the tiny corpus (the first 16) lacks:
    an analyst's own labelled news in the tests of extra data and adaptation."""
    out = tmp_path_factory.mktemp("own") / "own.jsonl"
    out.write_text(first_articles([CORPUS / "wave2_c.jsonl"], 6), encoding="utf-8")
    return out
