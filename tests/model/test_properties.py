"""Property-based tests (hypothesis) of sentence splitting and prediction on generated text.

Example counts are bounded so the suite stays fast; run with --hypothesis-show-statistics to see
how many cases each property ran.
"""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model import StanceClassifier
from model.sentences import split_sentences

# Pieces news text is made of, including the ones the splitter has rules for, so generated
# strings reach those rules far more often than uniformly random characters would.
PIECES = ["The", "talks", "U.S.", "Mr.", "Gen.", "Ankara", "said", "no", "3.5%", "BORDER TALKS", "REUTER", ".", "!", "?",
          "...", "“", "”", "\"", "'", "(Reuters) - ", "Home › World › ", ",", " ", "  ", "\n", "\n\n", "\n    ", "\t",
          "\r\n", "<p>", "</p>", "&amp;", "😀", "🇺🇦", "北京", "。", "Москва", "заявил.", "القاهرة", "\u200b", "\u200f",
          "\x00", "\x0b", "\x0c", "\x1b", "\u2028", "\ufeff", "\ud800", "e\u0301", "Ⅻ", "ﬁ"]
news_like = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)
any_text = st.one_of(st.text(max_size=300), news_like, st.text(alphabet=sorted(set("".join(PIECES))), max_size=200))


def assert_spans_are_faithful(text, sentences):
    previous_end = 0
    for s in sentences:
        assert previous_end <= s.start < s.end <= len(text), (s, previous_end)
        assert s.text == " ".join(text[s.start:s.end].split()) and s.text
        assert not text[s.start].isspace() and not text[s.end - 1].isspace()
        previous_end = s.end


@settings(max_examples=1000, deadline=None)
@given(any_text)
def test_split_sentences_spans_lie_inside_the_input_in_order(text):
    assert_spans_are_faithful(text, split_sentences(text))


@settings(max_examples=25, deadline=None)
@given(st.integers(2_100, 30_000), st.sampled_from(["word ", "Ab. ", "北京。", "x", "The talks failed. "]))
def test_long_blocks_keep_spans_faithful(length, unit):
    text = (unit * (length // len(unit) + 1))[:length]
    sentences = split_sentences(text)
    assert_spans_are_faithful(text, sentences)
    assert max(s.end - s.start for s in sentences) <= 10_000


@pytest.fixture(scope="module")
def classifier(tiny_model):
    return StanceClassifier.from_pretrained(tiny_model)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=any_text)
def test_predict_accepts_any_string(classifier, text):
    predictions = classifier.predict(text)
    assert_spans_are_faithful(text, predictions)
    for p in predictions:
        assert p.label in classifier.labels and isinstance(p.truncated, bool)
        assert abs(sum(p.probabilities.values()) - 1) < 1e-4


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.none(), st.integers(), st.floats(), st.binary(), st.lists(st.text(max_size=5), max_size=3),
                       st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2)))
def test_predict_refuses_anything_but_str_naming_the_type(classifier, value):
    with pytest.raises(TypeError, match=type(value).__name__):
        classifier.predict(value)
