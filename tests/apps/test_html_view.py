"""The HTML view: a self-contained page, checked as served and in a real headless chromium."""
import csv
import io
import itertools
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
from urllib.parse import unquote

from apps.cli import main
from apps.views.html_view import LABEL_COLOURS
from model.classifier import SentencePrediction
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
    # The CSV download is a data: URI, which fetches nothing.
    assert not re.search(r"""src\s*=|href\s*=\s*"(?!data:)|<link|@import|url\(|https?://""", text), "the page must fetch nothing"
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


# Machado, Oliveira & Fernandes (2009), severity 1.0: how a dichromat sees linear RGB.
DEUTERANOPIA = np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]])
PROTANOPIA = np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]])
# CIELAB distance (Delta E 1976) below which two highlight colours read as "about the same" at a glance.
MIN_DELTA_E = 20.0


def linear_rgb(colour: str) -> np.ndarray:
    srgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def cielab(linear: np.ndarray) -> np.ndarray:
    """CIELAB (D65 white) of a linear-sRGB colour."""
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ np.clip(linear, 0, 1)
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def smallest_difference(colours: dict[str, str], vision: np.ndarray | None) -> tuple[float, str, str]:
    seen = {label: cielab(linear_rgb(c) if vision is None else vision @ linear_rgb(c)) for label, c in colours.items()}
    return min((float(np.linalg.norm(seen[a] - seen[b])), a, b) for a, b in itertools.combinations(seen, 2))


@pytest.mark.parametrize("vision", [None, DEUTERANOPIA, PROTANOPIA], ids=["typical", "deuteranopia", "protanopia"])
def test_label_colours_stay_apart_for_colour_blind_readers(vision):
    distance, a, b = smallest_difference(LABEL_COLOURS, vision)
    assert distance >= MIN_DELTA_E, f"{a} and {b} differ by Delta E {distance:.1f} only"


def test_the_old_red_green_palette_fails_the_check():
    old = {"threatening": "#f28b82", "dismissive": "#fdcf8a", "conciliatory": "#a8dab5", "neutral": "#e8eaed"}
    assert smallest_difference(old, DEUTERANOPIA)[0] < MIN_DELTA_E


def test_page_says_what_it_is(page, tiny_model):
    path, predictions = page
    text = path.read_text(encoding="utf-8")
    assert re.search(r"<title>MOSCOW WARNS KYIV: stance</title>", text) and "<h1>MOSCOW WARNS KYIV</h1>" in text
    assert f'<b id="model-name">{tiny_model.name}</b>' in text
    trained = re.search(r'<span id="model-trained">([^<]+)</span>', text).group(1)
    assert re.match(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$", trained), trained
    numbers = re.findall(r'<span class="num" aria-hidden="true">(\d+)</span><span class="sentence[^"]*" id="s(\d+)"', text)
    assert numbers == [(str(i), str(i)) for i in range(1, len(predictions) + 1)]
    link = re.search(r'<a id="csv" download="gas.csv" href="data:text/csv;charset=utf-8,([^"]+)"', text)
    rows = list(csv.DictReader(io.StringIO(unquote(link.group(1)))))
    assert [(r["article_id"], r["sentence_id"], r["label"]) for r in rows] == \
        [("gas", str(i), p.label) for i, p in enumerate(predictions, start=1)]


def test_headline_and_date():
    from apps.views.html_view import headline, render_article_html
    from apps.views.profile import profile_predictions
    from model.explanation import Explanation

    body = "Talks resumed in Geneva on Monday after a week of threats. Both sides said they were hopeful."
    predictions = [SentencePrediction(body[:58], 0, 58, "neutral", {label: 0.25 for label in LABEL_COLOURS}),
                   SentencePrediction(body[59:], 59, len(body), "conciliatory", {label: 0.25 for label in LABEL_COLOURS})]
    assert headline("GENEVA TALKS RESUME\n" + body, predictions) == "GENEVA TALKS RESUME"
    assert headline(body, predictions) == predictions[0].text  # no headline line: the first sentence
    explanations = [Explanation(p.text, p.label, 0.25, []) for p in predictions]
    page = render_article_html(body, predictions, profile_predictions(predictions, "g1", "2019-06-10"), explanations)
    assert "<h1>Talks resumed in Geneva on Monday after a week of threats.</h1>" in page and "dated 2019-06-10" in page
