"""The page at `/` in a real headless chromium: paste an article, press Label, see the HTML view."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from headless_chromium import Browser, chromium_path
from model import StanceClassifier

pytest.importorskip("fastapi", reason="the server needs the serve extra: pip install 'stance-news[serve]'")

from apps.server.local import ServerProcess  # noqa: E402
from apps.views.html_view import LABEL_COLOURS  # noqa: E402

ARTICLE = ("MOSCOW WARNS KYIV\nGazprom said it would cut deliveries by half if Kyiv did not accept its tariff.\n"
           "Kyiv rejected the ultimatum as baseless. Both sides agreed to meet in Brussels next week.\n\n"
           "Gas transit fees account for about 2 percent of Ukraine's output.")
SENTENCES = """Array.from(document.querySelectorAll('#view .sentence')).map(function (s) {
  var c = getComputedStyle(s).backgroundColor.match(/\\d+/g).slice(0, 3).map(Number);
  return {label: s.dataset.label, rgb: c, probs: JSON.parse(s.dataset.probs)}; })"""


def rgb(colour: str) -> list[int]:
    return [int(colour[i:i + 2], 16) for i in (1, 3, 5)]


def label_in_browser(model_dir: Path, article: str, screenshot: Path, height: int = 1000) -> list[dict]:
    """Serve `model_dir`, paste `article` into the page, press Label; the sentences the view shows.
    (docs/serve_page.png is this run on the example article with a trained model, height 1400.)"""
    chromium_path()  # skips the test where there is no chromium
    with ServerProcess(model_dir) as server, Browser(width=1000, height=height) as browser:
        browser.open(server.url)
        browser.paste("#article", article)
        browser.evaluate("document.getElementById('title').value = 'Gas dispute'")
        browser.click("#label")
        browser.wait_for("document.body.dataset.ready === 'true'", timeout_s=120)
        shown = browser.evaluate(SENTENCES)
        browser.click("#s2")  # the view's own script runs in the page: a click explains sentence 2
        browser.wait_for("document.getElementById('explain').textContent.indexOf('Sentence 2 is') >= 0")
        browser.evaluate("window.scrollTo(0, 0)")
        browser.screenshot(screenshot)
    return shown


def test_page_labels_a_pasted_article(tiny_model, tmp_path):
    shot = tmp_path / "serve_page.png"
    shown = label_in_browser(tiny_model, ARTICLE, shot)
    expected = StanceClassifier.from_pretrained(tiny_model).predict(ARTICLE)
    assert len(shown) == len(expected) == 5
    for sentence, p in zip(shown, expected):
        assert sentence["label"] == p.label and sentence["rgb"] == rgb(LABEL_COLOURS[p.label])
        assert sentence["probs"] == pytest.approx(p.probabilities, abs=1e-4)
    pixels = (imread(shot)[..., :3] * 255).round().astype(int).reshape(-1, 3)
    for label in {p.label for p in expected}:
        assert (np.abs(pixels - rgb(LABEL_COLOURS[label])).max(axis=1) <= 2).sum() > 200, f"no {label} highlight"
