"""Do more real labels still pay? Train the config on growing numbers of its real labelled sentences.

    python -m eval.real_label_curve configs/default.yaml --dev ../shared/data/realnews_dev.jsonl \
        --counts 0 1000 2000 4000 all

The config's first present extra source (in extra_data, else in optional_extra_data: the team's
real news) is the one that grows, and the other entries of its field are left out; everything else, the corpus and any teacher labels
included, stays as configured, so each point differs only in how many real gold sentences it
trains on (a seeded sample of sentences). Its held-out articles (extra_dev_fraction) select every
point, including the one with none of its sentences in training. Writes real_label_curve.md,
.png and .json beside the runs. A point whose run directory already holds a finished run of the
same config is scored, not retrained: run several calls with different --counts side by side
(one thread each), then one call with every count to write the whole table.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path


from eval.evaluate import evaluate_records
from eval.figures import plot_f1_curve
from eval.post_training import finished_run_matches, train_and_report
from model.atomic_files import write_text_atomic
from model.classifier import StanceClassifier
from model.labels import LABELS
from training.config import ConfigError, TrainConfig, load_config, parse_source
from training.data import load_records, split_by_article


@dataclass
class RealLabelPoint:
    """One run trained on `real_sentences` of the real source's sentences, scored on real dev."""

    real_sentences: int
    train_sentences: int
    seconds: float
    macro_f1: float
    macro_f1_ci: tuple[float, float] | None
    per_class_f1: dict[str, float]


def growing_source(config: TrainConfig) -> tuple[str, str, int]:
    """(config field, path, sentences available for training) of the source the curve grows."""
    for field_name in ("extra_data", "optional_extra_data"):
        for entry in getattr(config, field_name):
            path = parse_source(entry, field_name).path
            if not Path(path).exists():
                continue  # an optional source absent on this machine
            records = load_records(path)
            if config.extra_dev_fraction:
                records = split_by_article(records, config.extra_dev_fraction, 0.0, config.seed).train
            return field_name, path, len(records)
    raise ConfigError("the config has no extra_data (nor a present optional_extra_data) whose labels the curve could grow")


def real_label_curve(config_path: str, dev_path: str, counts: list[int | None], out_dir: str,
                     overrides: list[str] | None = None) -> list[RealLabelPoint]:
    """Train once per count (None: all of them) and score each on `dev_path`."""
    field_name, path, available = growing_source(load_config(config_path, overrides))
    dev = load_records(dev_path)
    points = []
    for count in counts:
        count = available if count is None else min(count, available)
        run_dir = Path(out_dir) / f"real_{count}"
        entry = path if count == available else f"{path}:{count / available:.6g}"  # all of it: the config's own entry
        config = load_config(config_path, (overrides or []) + [f"{field_name}=['{entry}']", f"output_dir={run_dir}"])
        if finished_run_matches(run_dir, config):
            print(f"{count} real labels: reusing the finished run in {run_dir}")
        else:
            train_and_report(config)
        scored = evaluate_records(StanceClassifier.from_pretrained(run_dir), dev, name=f"{count} real labels", data=dev_path)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        training = metrics["training"]
        points.append(RealLabelPoint(count, training["train_sentences"], training["seconds"], scored.metrics.macro_f1,
                                     scored.metrics.macro_f1_ci, {label: scored.metrics.per_class[label]["f1"] for label in LABELS}))
        print(f"{count} real labels: dev macro-F1 {points[-1].macro_f1:.3f}")
    _write(points, Path(out_dir), dev_path, config_path)
    return points


def _write(points: list[RealLabelPoint], out: Path, dev_path: str, config_path: str) -> None:
    lines = [f"# Real labels used against macro-F1 on `{dev_path}` ({config_path})", "",
             "| real labelled sentences | all training sentences | macro-F1 (95% CI) | "
             + " | ".join(f"F1 {label}" for label in LABELS) + " | training time |",
             "|---|---|---|" + "---|" * len(LABELS) + "---|"]
    for p in points:
        ci = f" ({p.macro_f1_ci[0]:.3f}-{p.macro_f1_ci[1]:.3f})" if p.macro_f1_ci else ""
        lines.append(f"| {p.real_sentences} | {p.train_sentences} | {p.macro_f1:.3f}{ci} | "
                     + " | ".join(f"{p.per_class_f1[label]:.3f}" for label in LABELS) + f" | {p.seconds / 60:.1f} min |")
    write_text_atomic(out / "real_label_curve.md", "\n".join(lines) + "\n")
    write_text_atomic(out / "real_label_curve.json", json.dumps([asdict(p) for p in points], indent=1) + "\n")
    plot_f1_curve([p.real_sentences for p in points], [p.macro_f1 for p in points],
                  {label: [p.per_class_f1[label] for p in points] for label in LABELS}, out / "real_label_curve.png",
                  "real labelled sentences trained on", "F1 on real-news dev")


def _count(text: str) -> int | None:
    if text == "all":
        return None
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"a count must be 0 or more, got {value}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("--dev", required=True, help="real-news JSONL to score each run on")
    parser.add_argument("--counts", type=_count, nargs="+", default=[0, 1000, 2000, 4000, None],
                        help="real labelled sentences per run ('all' for every one)")
    parser.add_argument("--out", default="runs/real_label_curve")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_intermixed_args()  # key=value overrides may come after the options
    try:
        real_label_curve(args.config, args.dev, args.counts, args.out, args.overrides)
    except ConfigError as error:
        parser.exit(2, f"error: {error}\n")


if __name__ == "__main__":
    main()
