"""The HTML view: a self-contained page, checked as served and in a real headless chromium."""
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from apps.cli import main
from apps.views.html_view import LABEL_COLOURS
from model import StanceClassifier

ARTICLE = ("MOSCOW WARNS KYIV\nGazprom said it would cut deliveries by half if Kyiv did not accept its tariff.\n"
           "Kyiv rejected the ultimatum as baseless. Both sides agreed to meet in Brussels next week.\n\n"
           "Gas transit fees account for about 2 percent of Ukraine's output.")


class SentenceSpans(HTMLParser):
    """Collects the attributes of every <span class="sentence ..."> and the text of #explain."""

    def __init__(self) -> None:
        super().__init__()
        self.sentences: list[dict[str, str]] = []
        self.body: dict[str, str] = {}
        self.explain_text, self._depth = "", 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        if tag == "span" and "sentence" in (attrs.get("class") or "").split():
            self.sentences.append(attrs)
        if self._depth or attrs.get("id") == "explain":
            self._depth += 1

    def handle_endtag(self, tag):
        if self._depth:
            self._depth -= 1

    def handle_data(self, data):
        if self._depth:
            self.explain_text += data


def parse(page: str) -> SentenceSpans:
    parser = SentenceSpans()
    parser.feed(page)
    return parser


def hex_colour(style: str) -> str:
    """The background colour of a style attribute as #rrggbb, whether written as hex or rgb()."""
    found = re.search(r"background-color:\s*(#[0-9a-f]{6}|rgb\((\d+),\s*(\d+),\s*(\d+)\))", style)
    assert found, style
    if found.group(2):
        return "#" + "".join(f"{int(found.group(i)):02x}" for i in (2, 3, 4))
    return found.group(1)


@pytest.fixture(scope="module")
def page(tiny_model, tmp_path_factory) -> tuple[Path, list]:
    """The page `stance predict --format html --out` writes for ARTICLE, and the predictions behind it."""
    folder = tmp_path_factory.mktemp("html")
    article = folder / "gas.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    out = folder / "gas.html"
    assert main(["predict", str(tiny_model), str(article), "--format", "html", "--out", str(out)]) == 0
    return out, StanceClassifier.from_pretrained(tiny_model).predict(ARTICLE)


def test_page_is_self_contained_with_every_sentence(page):
    path, predictions = page
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=|<link|@import|url\(|https?://""", text), "the page must fetch nothing"
    spans = parse(text).sentences
    assert [s["data-label"] for s in spans] == [p.label for p in predictions] and len(spans) == 5
    for span, p in zip(spans, predictions):
        assert json.loads(span["data-probs"]) == pytest.approx(p.probabilities, abs=1e-4)
        assert hex_colour(span["style"]) == LABEL_COLOURS[p.label]
    assert 'id="profile"' in text and 'id="legend"' in text and all(label in text for label in LABEL_COLOURS)
    explanations = json.loads(re.search(r'<script type="application/json" id="explanations">(.*?)</script>', text, re.S).group(1))
    assert len(explanations) == 5 and explanations[1]["words"][0]["word"] == "Gazprom"
    assert text.count("<p>") == 4  # a paragraph per line break in the input: headline, 1, 2+3, 4


def test_stdout_and_min_confidence(tiny_model, tmp_path, capsys):
    article = tmp_path / "a.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    assert main(["predict", str(tiny_model), str(article), "--format", "html", "--min-confidence", "1"]) == 0
    spans = parse(capsys.readouterr().out).sentences
    assert len(spans) == 5 and all(s["data-label"] == "neutral" and "abstained" in s["class"] for s in spans)
    with pytest.raises(SystemExit):
        main(["predict", str(tiny_model), str(article), "--min-confidence", "2"])


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no chromium on this machine (Debian: apt-get install chromium; .ci/run installs it when it can)")


def run_chromium(*args: str) -> str:
    # --no-sandbox: CI and containers run as root, where chromium's sandbox refuses to start.
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, "LANG": "C.UTF-8"})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_page_in_a_real_browser(page, tmp_path):
    path, predictions = page
    dom = parse(run_chromium("--dump-dom", f"{path.as_uri()}#s2"))  # #s2: open sentence 2's explanation on load
    assert dom.body.get("data-ready") == "true", "the page's script did not run"
    assert len(dom.sentences) == len(predictions) == 5
    for span, p in zip(dom.sentences, predictions):
        assert span["data-label"] == p.label and hex_colour(span["style"]) == LABEL_COLOURS[p.label]
    assert "selected" in dom.sentences[1]["class"]
    assert f"Sentence 2 is {predictions[1].label}" in dom.explain_text and "Gazprom" in dom.explain_text

    shot = tmp_path / "page.png"
    run_chromium(f"--screenshot={shot}", "--window-size=1000,800", path.as_uri())
    pixels = (imread(shot)[..., :3] * 255).round().astype(int).reshape(-1, 3)
    for label in {p.label for p in predictions}:
        rgb = np.array([int(LABEL_COLOURS[label][i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).max(axis=1) <= 2).sum() > 200, f"no {label} highlight in the screenshot"
