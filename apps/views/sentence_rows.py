"""The per-sentence output of `stance predict`, one row per sentence, in every format it is given
in: the terminal table, JSON Lines, CSV (also the HTML page's download).

One module owns the row so that every format numbers sentences the same way (from 1, as a reader
counts them and as the HTML page's #s<N> anchors do) and names the same fields.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Sequence

from model.classifier import SentencePrediction

FIRST_SENTENCE = 1  # sentence numbers shown to people start here, in every format


@dataclass(frozen=True)
class SentenceRow:
    """One labelled sentence as the outputs show it."""

    article_id: str
    sentence_id: int  # from FIRST_SENTENCE, in article order
    prediction: SentencePrediction

    @property
    def runner_up(self) -> tuple[str, float]:
        """The second most probable label and its probability: how close the call was."""
        ranked = sorted(self.prediction.probabilities.items(), key=lambda item: item[1], reverse=True)
        return ranked[1] if len(ranked) > 1 else ("", 0.0)

    @property
    def probability(self) -> float:
        """The probability of the shown label (below the runner-up's when the model abstained)."""
        return self.prediction.probabilities[self.prediction.label]

    def to_json(self) -> dict:
        p = self.prediction
        runner_up, runner_up_p = self.runner_up
        return {"article_id": self.article_id, "sentence_id": self.sentence_id, "text": p.text, "start": p.start,
                "end": p.end, "label": p.label, "probability": round(self.probability, 4), "runner_up": runner_up,
                "runner_up_probability": round(runner_up_p, 4),
                "probabilities": {k: round(v, 4) for k, v in p.probabilities.items()},
                "abstained": p.abstained, "truncated": p.truncated}


def sentence_rows(predictions: Sequence[SentencePrediction], article_id: str) -> list[SentenceRow]:
    """The rows of one article's predictions, numbered from FIRST_SENTENCE."""
    return [SentenceRow(article_id, i, p) for i, p in enumerate(predictions, start=FIRST_SENTENCE)]


def render_table(rows: Sequence[SentenceRow]) -> str:
    """A fixed-width table for the terminal, with a header line; empty for an article without sentences."""
    if not rows:
        return ""
    lines = [f"{'#':>3}  {'label':<13} {'p':>4}  {'runner-up':<13} {'p':>4}  sentence"]
    for row in rows:
        p = row.prediction
        runner_up, runner_up_p = row.runner_up
        notes = ("  [abstained: below --min-confidence]" if p.abstained else "") + ("  [truncated]" if p.truncated else "")
        lines.append(f"{row.sentence_id:>3}  {p.label:<13} {row.probability:.2f}  {runner_up:<13} {runner_up_p:.2f}  {p.text}{notes}")
    return "\n".join(lines) + "\n"


def render_jsonl(rows: Sequence[SentenceRow]) -> str:
    """One JSON object per sentence (SentenceRow.to_json), one per line."""
    return "".join(json.dumps(row.to_json(), ensure_ascii=False) + "\n" for row in rows)


def render_csv(rows: Sequence[SentenceRow], labels: Sequence[str]) -> str:
    """CSV with a header: the ids, the label, its runner-up, every label's probability, the text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["article_id", "sentence_id", "label", "probability", "runner_up", "runner_up_probability",
                     *[f"p_{label}" for label in labels], "abstained", "truncated", "start", "end", "text"])
    for row in rows:
        p = row.prediction
        runner_up, runner_up_p = row.runner_up
        writer.writerow([row.article_id, row.sentence_id, p.label, f"{row.probability:.4f}", runner_up, f"{runner_up_p:.4f}",
                         *[f"{p.probabilities[label]:.4f}" for label in labels], p.abstained, p.truncated, p.start, p.end,
                         p.text])
    return out.getvalue()
