"""Evaluation results as files a person reads: report.md, metrics.json, confusion.png, reliability.png."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from eval.calibration import ECE_BINS, CalibrationSummary, plot_reliability
from eval.figures import plt, save_figure
from eval.metrics import Metrics
from model.atomic_files import write_text_atomic


@dataclass
class ArticleRow:
    """How the model did on one article."""

    article_id: str
    sentences: int
    correct: int
    gold_counts: dict[str, int]
    predicted_counts: dict[str, int]


@dataclass
class EvaluationResult:
    """Everything one evaluation produced."""

    name: str
    data: str
    metrics: Metrics
    baselines: dict[str, Metrics] = field(default_factory=dict)
    articles: list[ArticleRow] = field(default_factory=list)
    predictions: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    calibration: CalibrationSummary | None = None

    def to_dict(self) -> dict:
        summary = self.metrics.to_dict()
        summary.update({
            "name": self.name,
            "data": self.data,
            "baselines": {name: m.to_dict() for name, m in self.baselines.items()},
            "notes": self.notes,
            "calibration": self.calibration.to_dict() if self.calibration else None,
        })
        return summary


def write_report(result: EvaluationResult, out_dir: str | Path) -> Path:
    """Write metrics.json, report.md, confusion.png, reliability.png and predictions.jsonl into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "metrics.json", json.dumps(result.to_dict(), indent=2))
    write_text_atomic(out / "predictions.jsonl", "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in result.predictions))
    plot_confusion(result.metrics, out / "confusion.png", title=f"{result.name}: {Path(result.data).name}")
    if result.calibration:
        plot_reliability(result.calibration, out / "reliability.png", title=f"{result.name}: {Path(result.data).name}")
    write_text_atomic(out / "report.md", render_markdown(result))
    return out


def plot_confusion(metrics: Metrics, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    ax.imshow(metrics.confusion, cmap="Blues")
    ax.set_xticks(range(len(metrics.labels)), metrics.labels, rotation=30, ha="right")
    ax.set_yticks(range(len(metrics.labels)), metrics.labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    peak = max(max(row) for row in metrics.confusion) or 1
    for i, row in enumerate(metrics.confusion):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center", color="white" if count > peak / 2 else "black")
    ax.set_title(f"{title}\nmacro-F1 {metrics.macro_f1:.3f}", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def render_markdown(result: EvaluationResult) -> str:
    m = result.metrics
    ci = f" (95% CI {m.macro_f1_ci[0]:.3f}-{m.macro_f1_ci[1]:.3f}, bootstrap by article)" if m.macro_f1_ci else ""
    lines = [
        f"# Evaluation: {result.name}",
        "",
        f"Data: `{result.data}` ({m.n} sentences, {len(result.articles)} articles)",
        "",
        f"**macro-F1 {m.macro_f1:.3f}**{ci}, accuracy {m.accuracy:.3f}",
        "",
        "| system | macro-F1 | accuracy | " + " | ".join(f"F1 {label}" for label in m.labels) + " |",
        "|---|---|---|" + "---|" * len(m.labels),
    ]
    for name, metrics in [(result.name, m), *result.baselines.items()]:
        cells = " | ".join(f"{metrics.per_class[label]['f1']:.3f}" for label in metrics.labels)
        lines.append(f"| {name} | {metrics.macro_f1:.3f} | {metrics.accuracy:.3f} | {cells} |")
    lines += ["", "## Per class", "", "| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for label in m.labels:
        c = m.per_class[label]
        lines.append(f"| {label} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |")
    lines += ["", "## Confusion matrix (rows gold, columns predicted)", "", "![confusion](confusion.png)", "",
              "| gold \\ predicted | " + " | ".join(m.labels) + " |", "|---|" + "---|" * len(m.labels)]
    for label, row in zip(m.labels, m.confusion):
        lines.append(f"| {label} | " + " | ".join(str(x) for x in row) + " |")
    if result.calibration:
        c = result.calibration
        lines += ["", "## Calibration", "",
                  f"Expected calibration error ({ECE_BINS} bins of top probability): **{c.ece_before:.3f}** with the raw "
                  f"softmax, **{c.ece_after:.3f}** with the model's {c.description or f'temperature T = {c.temperature:.2f}'}"
                  + (" (the model has no fitted calibration)" if c.method == "temperature" and c.temperature == 1.0 else "") + ".",
                  "", "![reliability](reliability.png)"]
    lines += ["", "## Per article", "", "| article | sentences | accuracy | gold N/C/D/T | predicted N/C/D/T |", "|---|---|---|---|---|"]
    for row in result.articles:
        gold = "/".join(str(row.gold_counts[label]) for label in m.labels)
        pred = "/".join(str(row.predicted_counts[label]) for label in m.labels)
        lines.append(f"| {row.article_id} | {row.sentences} | {row.correct / row.sentences:.2f} | {gold} | {pred} |")
    if result.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in result.notes]
    return "\n".join(lines) + "\n"
