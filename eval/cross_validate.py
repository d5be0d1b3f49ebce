"""Article-grouped cross-validation: is one setting of the recipe better than another on real articles?

    python -m eval.cross_validate configs/default.yaml --folds 0 1 2 \
        --setting default --setting class_weighted teacher_class_weighting=balanced --out runs/cv

One held-out block of 46 real articles selects every run of the recipe, and two runs that
differ by 0.01-0.02 there often swap places on the dev set. Cross-validation trains each setting
once per fold, where fold k holds out the k-th disjoint block of the extra data's articles
(`extra_dev_fold=k`, blocks of `extra_dev_fraction`); that block selects and calibrates the run
and is its score. Settings are compared fold by fold (the same held-out articles), which removes
the articles' own difficulty from the difference. Each run's dev score is also read from its
extra_eval reports (the real-news dev set, a confirmation, never a choice).

A (setting, fold) whose run directory already holds a finished run of the same config is read,
not retrained: run calls with different --folds side by side (one thread each), then one call
with every fold to write cross_validation.md and .json.
"""
from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

from eval.post_training import finished_run_matches, train_and_report
from model.atomic_files import write_text_atomic
from training.config import ConfigError, load_config, parse_overrides


@dataclass
class FoldRun:
    """One setting trained with one fold of real articles held out."""

    setting: str
    fold: int
    held_out_macro_f1: float  # the best score on the held-out fold: what selects the run
    best_step: int
    test_macro_f1: float | None  # the corpus's own test split (None where it has none)
    confirm_macro_f1: dict[str, float]  # extra_eval file -> macro-F1 (calibrated model)
    seconds: float


@dataclass
class Setting:
    name: str
    overrides: list[str]


def parse_setting(values: list[str]) -> Setting:
    """NAME [key=value ...] -> Setting, checking the overrides' syntax before hours of training."""
    name, overrides = values[0], values[1:]
    if "=" in name:
        raise argparse.ArgumentTypeError(f"--setting starts with a name, then key=value overrides; got {name!r} first")
    parse_overrides(overrides)
    return Setting(name, overrides)


def run_fold(config_path: str, setting: Setting, fold: int, out: Path, overrides: list[str]) -> FoldRun:
    """Train (or reuse) `setting` with fold `fold` held out and read its scores."""
    run_dir = out / setting.name / f"fold{fold}"
    config = load_config(config_path, overrides + setting.overrides + [f"extra_dev_fold={fold}", f"output_dir={run_dir}"])
    if not config.extra_dev_fraction:
        raise ConfigError("cross-validation holds out real articles by extra_dev_fraction; the config sets none")
    if finished_run_matches(run_dir, config):
        print(f"{setting.name}, fold {fold}: reusing the finished run in {run_dir}")
    else:
        train_and_report(config)
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    confirm = {path: scores["macro_f1"] for path, scores in metrics.get("extra_eval", {}).items()}
    return FoldRun(setting.name, fold, metrics["dev"]["best_macro_f1"], metrics["dev"]["best_step"],
                   metrics.get("macro_f1"), confirm, metrics["training"]["seconds"])


def cross_validate(config_path: str, settings: list[Setting], folds: list[int], out: str | Path,
                   overrides: list[str] | None = None) -> list[FoldRun]:
    """Every setting on every fold; writes the comparison when each (setting, fold) has a run."""
    out = Path(out)
    for setting in settings:  # every config valid before the first of many runs starts
        load_config(config_path, (overrides or []) + setting.overrides)
    runs = [run_fold(config_path, setting, fold, out, overrides or []) for fold in folds for setting in settings]
    write_text_atomic(out / "cross_validation.json", json.dumps(
        {"config": config_path, "overrides": overrides or [], "folds": folds,
         "settings": [asdict(s) for s in settings], "runs": [asdict(r) for r in runs]}, indent=1) + "\n")
    write_text_atomic(out / "cross_validation.md", render(config_path, settings, folds, runs))
    return runs


def render(config_path: str, settings: list[Setting], folds: list[int], runs: list[FoldRun]) -> str:
    """A table: each setting's held-out macro-F1 per fold, its mean, and its paired gain over the first."""
    score = {(r.setting, r.fold): r for r in runs}
    base = settings[0].name
    confirm_files = sorted({path for r in runs for path in r.confirm_macro_f1})
    lines = [f"# Article-grouped cross-validation of `{config_path}`", "",
             f"Held-out real articles' macro-F1 (the score that selects each run), folds {', '.join(map(str, folds))}; "
             f"gain is paired by fold against `{base}`.", "",
             "| setting | " + " | ".join(f"fold {k}" for k in folds) + " | mean | gain over "
             + f"{base}: mean (min to max) | " + "".join(f"mean on {Path(p).name} | " for p in confirm_files)
             + "mean on the test split | training per run |",
             "|---|" + "---|" * (len(folds) + 4 + len(confirm_files))]
    for setting in settings:
        rows = [score[(setting.name, k)] for k in folds]
        gains = [r.held_out_macro_f1 - score[(base, r.fold)].held_out_macro_f1 for r in rows]
        gain = "" if setting.name == base else f"{statistics.mean(gains):+.3f} ({min(gains):+.3f} to {max(gains):+.3f})"
        confirm = "".join(f"{statistics.mean(r.confirm_macro_f1.get(p, float('nan')) for r in rows):.3f} | "
                          for p in confirm_files)
        tests = [r.test_macro_f1 for r in rows if r.test_macro_f1 is not None]
        test = f"{statistics.mean(tests):.3f}" if tests else "n/a"
        overrides = " ".join(setting.overrides) or "the config as is"
        lines.append(f"| {setting.name} (`{overrides}`) | " + " | ".join(f"{r.held_out_macro_f1:.3f}" for r in rows)
                     + f" | {statistics.mean(r.held_out_macro_f1 for r in rows):.3f} | {gain} | {confirm}"
                     + f"{test} | {statistics.mean(r.seconds for r in rows) / 60:.1f} min |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4],
                        help="which blocks of real articles to hold out, one run per setting each")
    parser.add_argument("--setting", type=str, nargs="+", action="append", required=True, metavar="NAME [key=value ...]",
                        help="a setting to compare (repeat the option); the first is the reference")
    parser.add_argument("--out", default="runs/cross_validation")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="applied to every setting (e.g. num_threads=1)")
    args = parser.parse_intermixed_args()
    try:
        settings = [parse_setting(values) for values in args.setting]
        if len({s.name for s in settings}) < len(settings):
            raise ConfigError("two --setting options share a name")
        cross_validate(args.config, settings, args.folds, args.out, args.overrides)
    except (ConfigError, argparse.ArgumentTypeError) as error:
        parser.exit(2, f"error: {error}\n")


if __name__ == "__main__":
    main()
