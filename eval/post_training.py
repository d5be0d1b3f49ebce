"""`stance train` and `stance distill`: a training run, then its reports.

The trainer trains and saves; this module scores the finished model on its test split and on
every extra_eval file, and writes those reports, metrics.json and the model card into the model
directory before it is published (the trainer's `finish` hook).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from eval.evaluate import evaluate_records
from eval.report import EvaluationResult, write_report
from model.atomic_files import write_text_atomic
from model.model_dir import METRICS_FILE, MODEL_CARD_FILE, REPORTS_DIR, TRAINING_CONFIG_FILE
from training.config import TrainConfig, resolve_optional_inputs
from training.data import label_counts
from training.model_card import render_model_card, training_data_summary
from training.objective import TrainingObjective
from training.trainer import TrainedRun, TrainResult, train


# Fields that change how a run is carried out or reported, not what it learns.
_NOT_LEARNED = frozenset({"output_dir", "num_threads", "resume", "checkpoint_every", "bootstrap_samples", "export_onnx"})


def finished_run_matches(run_dir: Path, config: TrainConfig) -> bool:
    """True when `run_dir` holds a finished run of this very config (ignoring threads and the like),
    so that points can be trained in parallel processes, or a curve resumed, without training twice.
    A field the saved config lacks (a run older than the field) counts as its default."""
    saved_path = run_dir / TRAINING_CONFIG_FILE
    if not (saved_path.is_file() and (run_dir / "metrics.json").is_file()):
        return False
    saved = yaml.safe_load(saved_path.read_text(encoding="utf-8")) or {}
    defaults = dataclasses.asdict(TrainConfig())
    wanted = dataclasses.asdict(resolve_optional_inputs(config).config)
    return all(saved.get(key, defaults[key]) == value for key, value in wanted.items() if key not in _NOT_LEARNED)


@dataclass
class TrainingReport:
    """A finished run and what its reports say."""

    run: TrainResult
    test: EvaluationResult | None
    extra: dict[str, EvaluationResult] = field(default_factory=dict)


def train_and_report(config: TrainConfig, progress: bool = True,
                     objective: TrainingObjective | None = None) -> TrainingReport:
    """Train `config` (with `objective`, default cross-entropy) and write the reports into the model directory."""
    reports: dict[str, object] = {}

    def finish(run: TrainedRun) -> None:
        reports["test"], reports["extra"] = write_run_reports(run)

    result = train(config, progress=progress, objective=objective, finish=finish)
    return TrainingReport(result, reports["test"], reports["extra"])


def write_run_reports(run: TrainedRun) -> tuple[EvaluationResult | None, dict[str, EvaluationResult]]:
    """Evaluate the run's model on its test split and extra_eval files; write eval/, metrics.json, README.md."""
    config, splits, out = run.config, run.splits, run.directory
    test = None
    if splits.test:
        test = evaluate_records(run.classifier, splits.test, name="model", data=f"{config.data} (test split)",
                                train_records=splits.train, bootstrap_samples=config.bootstrap_samples, seed=config.seed)
        write_report(test, out / REPORTS_DIR / "test")
    extra = {}
    for path, records in run.extra_eval.items():
        extra[path] = evaluate_records(run.classifier, records, name="model", data=path,
                                       train_records=splits.train, bootstrap_samples=config.bootstrap_samples, seed=config.seed)
        write_report(extra[path], out / REPORTS_DIR / Path(path).stem)

    r, ids = run.result, run.split_ids
    summary = {
        "macro_f1": test.metrics.macro_f1 if test else None,
        "accuracy": test.metrics.accuracy if test else None,
        "per_class": test.metrics.per_class if test else None,
        "test": test.to_dict() if test else None,
        "dev": {"best_macro_f1": r.best_dev_macro_f1, "best_step": r.best_step, "history": r.dev_history},
        "extra_eval": {path: result.to_dict() for path, result in extra.items()},
        "training": {"steps": r.steps, "seconds": round(time.perf_counter() - run.started, 1),
                     "train_sentences": len(splits.train), "train_articles": len(ids["train"]),
                     "dev_articles": len(ids["dev"]), "test_articles": len(ids["test"]),
                     "base_model": config.base_model, "resolved_base_model": run.base_model,
                     "resumed_from_step": run.resumed_from_step, "init_from": config.init_from or None,
                     "context": config.context, "precision": r.precision,
                     "calibration": {"method": run.classifier.calibration.method,
                                     "temperature": run.classifier.calibration.temperature,
                                     "held_out_comparison": run.classifier.calibration.comparison},
                     # When the model was made: the HTML view and the model card tell readers how recent it is.
                     "finished_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")},
        "data": training_data_summary(config, r.notes),
    }
    write_text_atomic(out / METRICS_FILE, json.dumps(summary, indent=2))
    write_text_atomic(out / MODEL_CARD_FILE, render_model_card(config, summary, label_counts(splits.train)))
    return test, extra
