"""Does more of our written corpus help on real news? Train on growing shares, score each on real data.

    python -m eval.learning_curve configs/default.yaml --dev ../shared/data/realnews_dev.jsonl

Each point is a full training run of the config with `train_fraction` set (whole articles,
seeded), evaluated on the given real-news JSONL. Writes learning_curve.md and .png.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from eval.evaluate import evaluate_records
from eval.figures import plot_f1_curve
from eval.post_training import train_and_report
from model.atomic_files import write_text_atomic
from model.classifier import StanceClassifier
from model.labels import LABELS
from training.config import load_config
from training.data import load_records


@dataclass
class CurvePoint:
    """One training run on a share of the corpus and its score on real news."""

    fraction: float
    train_sentences: int
    seconds: float
    macro_f1: float
    macro_f1_ci: tuple[float, float] | None
    per_class_f1: dict[str, float]


def learning_curve(config_path: str, dev_path: str, fractions: list[float], out_dir: str,
                   overrides: list[str] | None = None) -> list[CurvePoint]:
    dev = load_records(dev_path)
    points = []
    for fraction in fractions:
        run_dir = Path(out_dir) / f"train_{int(fraction * 100)}pct"
        config = load_config(config_path, (overrides or []) + [f"train_fraction={fraction}", f"output_dir={run_dir}"])
        result = train_and_report(config).run
        scored = evaluate_records(StanceClassifier.from_pretrained(run_dir), dev, name=f"{fraction:.0%} of corpus", data=dev_path)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        points.append(CurvePoint(fraction, metrics["training"]["train_sentences"], result.seconds, scored.metrics.macro_f1,
                                 scored.metrics.macro_f1_ci, {label: scored.metrics.per_class[label]["f1"] for label in LABELS}))
        print(f"{fraction:.0%}: {points[-1].train_sentences} sentences, real-news macro-F1 {points[-1].macro_f1:.3f}")
    _write(points, Path(out_dir), dev_path)
    return points


def _write(points: list[CurvePoint], out: Path, dev_path: str) -> None:
    lines = [f"# Learning curve on `{dev_path}`", "",
             "| share of corpus | training sentences | macro-F1 (95% CI) | " + " | ".join(f"F1 {label}" for label in LABELS) + " | training time |",
             "|---|---|---|" + "---|" * len(LABELS) + "---|"]
    for p in points:
        ci = f" ({p.macro_f1_ci[0]:.3f}-{p.macro_f1_ci[1]:.3f})" if p.macro_f1_ci else ""
        lines.append(f"| {p.fraction:.0%} | {p.train_sentences} | {p.macro_f1:.3f}{ci} | "
                     + " | ".join(f"{p.per_class_f1[label]:.3f}" for label in LABELS) + f" | {p.seconds / 60:.1f} min |")
    write_text_atomic(out / "learning_curve.md", "\n".join(lines) + "\n")
    plot_f1_curve([p.train_sentences for p in points], [p.macro_f1 for p in points],
                  {label: [p.per_class_f1[label] for p in points] for label in LABELS}, out / "learning_curve.png",
                  "training sentences (log scale)", "F1 on real news", log2_x=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("--dev", required=True, help="real-news JSONL to score each run on")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    parser.add_argument("--out", default="runs/learning_curve")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args()
    learning_curve(args.config, args.dev, args.fractions, args.out, args.overrides)


if __name__ == "__main__":
    main()
