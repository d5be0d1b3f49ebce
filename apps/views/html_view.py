"""One self-contained HTML page per article: every sentence highlighted by its stance, the
probabilities on hover, the article's profile at the top, a legend, and on click the words
behind a sentence's label.

Everything (CSS, script, data) is inline and nothing is fetched, so the page can be mailed,
archived or opened offline. Each sentence's colour is also written into its own style
attribute, so the page reads correctly even where scripts are blocked.
"""
from __future__ import annotations

import html
import json
import re
from typing import Sequence
from urllib.parse import quote

from apps.views.profile import ArticleProfile, profile_predictions
from apps.views.sentence_rows import render_csv, sentence_rows
from model.classifier import SentencePrediction, StanceClassifier
from model.explanation import Explanation, explain_sentences
from model.labels import LABELS
from model.model_dir import ModelSummary

# Tints of the Okabe-Ito palette (vermillion, yellow, sky blue) and a light grey: they stay apart for
# red-green colour-blind readers (tests/apps/test_html_view.py simulates deuteranopia and protanopia)
# and keep dark text readable on top.
LABEL_COLOURS = {"threatening": "#e49659", "dismissive": "#f2e85e", "conciliatory": "#91cef1", "neutral": "#ececec"}
# A line of the input at most this long, before the first sentence ends, is taken for the headline.
HEADLINE_MAX_CHARS = 160
LABEL_MEANINGS = {
    "threatening": "warns of, weighs or takes coercive steps",
    "dismissive": "rejects, refuses, denies, brushes off",
    "conciliatory": "offers, agrees, reassures, seeks talks",
    "neutral": "facts, background, reporting",
}

STYLE = """
body { font: 16px/1.6 Georgia, serif; color: #202124; max-width: 52em; margin: 2em auto; padding: 0 1em; }
h1 { font: 600 1.3em system-ui, sans-serif; margin-bottom: .4em; }
.panel, .legend, #explain, #tip { font: 13px/1.4 system-ui, sans-serif; }
.panel { display: flex; gap: 2em; align-items: flex-start; flex-wrap: wrap; padding: .8em 1em;
         background: #f8f9fa; border: 1px solid #dadce0; border-radius: 6px; }
.score { font-size: 2em; font-weight: 600; }
.scale { position: relative; width: 16em; height: .7em; border-radius: .35em; margin: .4em 0 .2em;
         background: linear-gradient(to right, #56b4e9, #ececec 50%, #d55e00); }
.scale .marker { position: absolute; top: -.3em; width: 3px; height: 1.3em; background: #202124; }
.scale-ends { display: flex; justify-content: space-between; width: 16em; color: #5f6368; }
.shares { display: flex; width: 20em; height: 1.1em; border-radius: 3px; overflow: hidden; margin: .4em 0; }
table.counts td { padding: 0 .6em 0 0; }
.legend { margin: 1em 0; display: flex; flex-wrap: wrap; gap: .4em 1.4em; }
.swatch { display: inline-block; width: 1em; height: 1em; border-radius: 2px; vertical-align: -.15em; margin-right: .3em; }
article p { margin: 0 0 .9em; }
.sentence { border-radius: 3px; padding: .05em .1em; cursor: pointer; box-decoration-break: clone; -webkit-box-decoration-break: clone; }
.sentence.abstained { outline: 1px dashed #5f6368; }
.sentence.selected { box-shadow: 0 0 0 2px #1a73e8; }
#tip { position: fixed; display: none; pointer-events: none; background: #fff; border: 1px solid #dadce0;
       border-radius: 4px; padding: .5em .7em; box-shadow: 0 2px 6px rgba(0,0,0,.15); z-index: 2; }
#tip .bar { display: inline-block; height: .6em; vertical-align: middle; margin-left: .4em; }
#explain { position: sticky; bottom: 0; background: #fff; border-top: 2px solid #1a73e8; padding: .6em 1em; min-height: 1.5em; }
#explain .word { padding: 0 .15em; border-radius: 2px; }
.hint { color: #5f6368; }
.meta { font: 13px/1.4 system-ui, sans-serif; color: #5f6368; margin: 0 0 1em; }
.num { font: 11px system-ui, sans-serif; color: #5f6368; vertical-align: super; margin: 0 .15em 0 .1em; user-select: none; }
"""

SCRIPT = """
(function () {
  var explanations = JSON.parse(document.getElementById('explanations').textContent);
  var colours = JSON.parse(document.getElementById('colours').textContent);
  var tip = document.getElementById('tip'), panel = document.getElementById('explain');
  var sentences = document.querySelectorAll('.sentence');
  function escapeText(s) { var d = document.createElement('div'); d.textContent = s; return d.innerHTML; }
  function showTip(event) {
    var probs = JSON.parse(this.dataset.probs), rows = [];
    Object.keys(probs).sort(function (a, b) { return probs[b] - probs[a]; }).forEach(function (label) {
      rows.push('<div><span class="swatch" style="background:' + colours[label] + '"></span>' + label + ' ' +
                probs[label].toFixed(2) + '<span class="bar" style="width:' + Math.round(probs[label] * 80) +
                'px;background:' + colours[label] + '"></span></div>');
    });
    if (this.classList.contains('abstained')) rows.push('<div class="hint">below the confidence threshold: shown as neutral</div>');
    tip.innerHTML = rows.join('');
    tip.style.display = 'block';
    moveTip(event);
  }
  function moveTip(event) { tip.style.left = (event.clientX + 14) + 'px'; tip.style.top = (event.clientY + 14) + 'px'; }
  function explain(index) {
    var e = explanations[index], s = sentences[index];
    sentences.forEach(function (other) { other.classList.remove('selected'); });
    if (!e || !s) return;
    s.classList.add('selected');
    var peak = Math.max.apply(null, e.words.map(function (w) { return Math.abs(w.weight); }).concat([1e-6]));
    var words = e.words.map(function (w) {
      var alpha = Math.min(1, Math.abs(w.weight) / peak).toFixed(2);
      var rgb = w.weight > 0 ? '26,115,232' : '95,99,104';
      return '<span class="word" title="' + (w.weight >= 0 ? '+' : '') + w.weight.toFixed(3) +
             '" style="background:rgba(' + rgb + ',' + alpha * 0.45 + ')">' + escapeText(w.word) + '</span>';
    }).join(' ');
    var top = e.top.map(function (w) { return '<b>' + escapeText(w.word) + '</b> +' + w.weight.toFixed(2); }).join(', ');
    panel.innerHTML = '<div>Sentence ' + (index + 1) + ' is <b>' + e.label + '</b> (' + e.probability.toFixed(2) +
      '). Words that pushed it there: ' + (top || '<span class="hint">none stands out</span>') + '</div><div>' + words + '</div>' +
      '<div class="hint">weight = how much the probability of ' + e.label + ' drops when the word is removed</div>';
    panel.dataset.sentence = index;
  }
  sentences.forEach(function (s, index) {
    s.addEventListener('mouseenter', showTip);
    s.addEventListener('mousemove', moveTip);
    s.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
    s.addEventListener('click', function () { history.replaceState(null, '', '#s' + (index + 1)); explain(index); });
  });
  var match = /^#s(\\d+)$/.exec(location.hash);
  if (match) explain(parseInt(match[1], 10) - 1);
  document.body.dataset.ready = 'true';
})();
"""


def _json_script(element_id: str, data: object) -> str:
    # "</" inside a JSON string would end the script element early.
    text = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _profile_panel(profile: ArticleProfile) -> str:
    position = (profile.escalation + 1) / 2 * 100
    shares = "".join(f'<div title="{label} {profile.shares[label]:.0%}" style="width:{profile.shares[label] * 100:.2f}%;'
                     f'background:{LABEL_COLOURS[label]}"></div>' for label in LABELS)
    rows = "".join(f"<tr><td><span class='swatch' style='background:{LABEL_COLOURS[label]}'></span>{label}</td>"
                   f"<td>{profile.counts[label]}</td><td>{profile.shares[label]:.0%}</td><td>mix {profile.mix[label]:.2f}</td></tr>"
                   for label in LABELS)
    return (f'<section class="panel" id="profile"><div><div>escalation score</div>'
            f'<div class="score" id="escalation">{profile.escalation:+.2f}</div>'
            f'<div class="scale"><div class="marker" style="left:calc({position:.1f}% - 1px)"></div></div>'
            f'<div class="scale-ends"><span>-1 conciliatory</span><span>+1 threatening</span></div></div>'
            f'<div><div>{profile.sentences} sentences</div><div class="shares">{shares}</div>'
            f'<table class="counts">{rows}</table></div></section>')


def _legend() -> str:
    items = "".join(f'<span><span class="swatch" style="background:{LABEL_COLOURS[label]}"></span><b>{label}</b>: '
                    f'{LABEL_MEANINGS[label]}</span>' for label in LABELS)
    return (f'<section class="legend" id="legend">{items}<span><span class="swatch" style="outline:1px dashed #5f6368">'
            f'</span>dashed: model unsure, shown as neutral</span></section>'
            f'<p class="hint">Hover a sentence for its probabilities; click it for the words behind its label.</p>')


def _sentence_span(index: int, p: SentencePrediction) -> str:
    """Sentence `index` (from 0) shown with its number from 1, the number of its #s<N> anchor and of every other output."""
    probs = html.escape(json.dumps({k: round(v, 4) for k, v in p.probabilities.items()}), quote=True)
    classes = "sentence abstained" if p.abstained else "sentence"
    return (f'<span class="num" aria-hidden="true">{index + 1}</span>'
            f'<span class="{classes}" id="s{index + 1}" data-label="{p.label}" data-probs="{probs}" tabindex="0" '
            f'style="background-color:{LABEL_COLOURS[p.label]}">{html.escape(p.text)}</span>')


def _article_body(text: str, predictions: Sequence[SentencePrediction]) -> str:
    """Sentences in paragraphs: a line break between two sentences in the input starts a new paragraph."""
    paragraphs: list[list[str]] = [[]]
    previous_end = 0
    for index, p in enumerate(predictions):
        if paragraphs[-1] and "\n" in text[previous_end:p.start]:
            paragraphs.append([])
        paragraphs[-1].append(_sentence_span(index, p))
        previous_end = p.end
    return "".join(f"<p>{' '.join(spans)}</p>" for spans in paragraphs if spans)


def headline(text: str, predictions: Sequence[SentencePrediction]) -> str:
    """What the page is titled by: the article's first line when it is short and ends before the
    first sentence does (a headline), else its first sentence."""
    first_line = text.strip().split("\n", 1)[0].strip()
    if first_line and len(first_line) <= HEADLINE_MAX_CHARS and (
            not predictions or text.find(first_line) + len(first_line) <= predictions[0].end):
        return first_line
    return predictions[0].text if predictions else ""


def _meta_line(rows_csv: str, article_id: str, date: str | None, model: ModelSummary | None) -> str:
    """Date, model and the CSV download, under the title."""
    parts = [f"dated {html.escape(date)}"] if date else []
    if model:
        base = f" ({html.escape(model.base_model)})" if model.base_model else ""
        parts.append(f'labelled by model <b id="model-name">{html.escape(model.name)}</b>{base}, trained '
                     f'<span id="model-trained">{html.escape(model.trained)}</span>')
    name = re.sub(r"[^\w.-]+", "_", article_id or "article")
    # A data: URI, not a fetch: the page stays self-contained.
    parts.append(f'<a id="csv" download="{html.escape(name, quote=True)}.csv" '
                 f'href="data:text/csv;charset=utf-8,{quote(rows_csv, safe="")}">download the sentences as CSV</a>')
    return f'<p class="meta" id="meta">{" &middot; ".join(parts)}</p>'


def render_article_html(text: str, predictions: Sequence[SentencePrediction], profile: ArticleProfile,
                        explanations: Sequence[Explanation], title: str = "", top_words: int = 5,
                        model: ModelSummary | None = None, labels: Sequence[str] = LABELS) -> str:
    """The page for one article labelled by StanceClassifier.predict; `explanations` align with `predictions`.

    Titled by `title`, else the article's headline; the profile's article id and date, and `model`,
    are shown under it beside a CSV download of the sentences (the rows of `stance predict --format csv`).
    """
    if len(explanations) != len(predictions):
        raise ValueError(f"{len(explanations)} explanations for {len(predictions)} sentences")
    title = title or headline(text, predictions) or profile.article_id or "article"
    rows_csv = render_csv(sentence_rows(predictions, profile.article_id), labels)
    explained = [{"label": e.label, "probability": round(e.probability, 4),
                  "words": [{"word": w.word, "weight": round(w.weight, 4)} for w in e.words],
                  "top": [{"word": w.word, "weight": round(w.weight, 4)} for w in e.top_words(top_words)]}
                 for e in explanations]
    safe_title = html.escape(re.sub(r"\s+", " ", title))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{safe_title}: stance</title><style>{STYLE}</style></head>
<body>
<h1>{safe_title}</h1>
{_meta_line(rows_csv, profile.article_id, profile.date, model)}
{_profile_panel(profile)}
{_legend()}
<article id="article">{_article_body(text, predictions)}</article>
<section id="explain"><span class="hint">Click a sentence to see the words behind its label.</span></section>
<div id="tip"></div>
{_json_script("explanations", explained)}
{_json_script("colours", LABEL_COLOURS)}
<script>{SCRIPT}</script>
</body></html>
"""


def article_page(classifier: StanceClassifier, text: str, article_id: str = "", min_confidence: float | None = None,
                 date: str | None = None, model: ModelSummary | None = None) -> str:
    """Label, profile and explain one article and render its page (`stance predict --format html`)."""
    predictions = classifier.predict(text, min_confidence=min_confidence)
    explanations = explain_sentences(classifier, [p.text for p in predictions])
    return render_article_html(text, predictions, profile_predictions(predictions, article_id, date), explanations,
                               model=model, labels=classifier.labels)
