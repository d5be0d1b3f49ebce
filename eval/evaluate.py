"""Score a trained model on labelled sentences, beside baselines trained on its training split."""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

from eval.baselines import fit_baselines
from eval.calibration import CalibrationSummary, summarize_calibration
from eval.metrics import score
from eval.report import ArticleRow, EvaluationResult, write_report
from model.calibration import LogitCalibration, calibrate
from model.classifier import StanceClassifier
from model.labels import LABELS
from model.model_dir import REPORTS_DIR, SPLITS_FILE, WEIGHTS_FILE, read_splits
from model.calibration_folding import refold_weights_file
from training.data import DataError, Record, contexts_for, load_records


def evaluate_records(classifier: StanceClassifier, records: list[Record], name: str, data: str,
                     train_records: list[Record] | None = None, bootstrap_samples: int = 1000,
                     seed: int = 0) -> EvaluationResult:
    """Predict every record's sentence (sentences are given, not re-split) and score it."""
    logits = classifier.predict_logits([r.text for r in records], contexts_for(records, classifier.context))
    probabilities = classifier.calibration.probabilities(logits)
    predicted = [classifier.labels[int(i)] for i in probabilities.argmax(axis=1)]
    gold = [r.label for r in records]
    groups = [r.article_id for r in records]
    result = EvaluationResult(name=name, data=data, metrics=score(gold, predicted, groups, bootstrap_samples, seed))
    if records:
        result.calibration = summarize_calibration(logits, gold, classifier.labels, classifier.calibration)
    if train_records:
        for baseline in fit_baselines([r.text for r in train_records], [r.label for r in train_records], seed):
            result.baselines[baseline.name] = score(gold, baseline.predict([r.text for r in records]))
    else:
        result.notes.append("baselines skipped: the model's training split could not be loaded")
    by_article: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        by_article.setdefault(record.article_id, []).append(i)
    for article_id, rows in by_article.items():
        gold_counts, pred_counts = Counter(gold[i] for i in rows), Counter(predicted[i] for i in rows)
        result.articles.append(ArticleRow(
            article_id, len(rows), sum(gold[i] == predicted[i] for i in rows),
            {label: gold_counts.get(label, 0) for label in LABELS},
            {label: pred_counts.get(label, 0) for label in LABELS},
        ))
    result.predictions = [
        {"article_id": r.article_id, "sentence_id": r.sentence_id, "text": r.text, "gold": r.label, "predicted": p,
         "probabilities": {label: round(float(x), 4) for label, x in zip(classifier.labels, row)}}
        for r, p, row in zip(records, predicted, probabilities)
    ]
    return result


def split_records_of(model_dir: str | Path, split: str) -> list[Record] | None:
    """The records of one split ("train", "dev", "test") of the model in `model_dir`, if its data is
    still where it was. The split's articles may come from the extra data too (a model trained on
    real news holds its dev articles out of it), so every source the split file names is read."""
    splits = read_splits(model_dir)
    if splits is None:
        return None
    ids = set(splits.get(split, []))
    records = []
    for source in [splits["data"], *splits.get("extra_data", [])]:
        try:
            records += [r for r in load_records(source) if r.article_id in ids]
        except DataError:
            return None
    return records


def training_records_of(model_dir: str | Path) -> list[Record] | None:
    """The records the model in `model_dir` was trained on, if its data is still where it was."""
    return split_records_of(model_dir, "train")


def calibrate_model_dir(model_dir: str | Path, data: str | Path | None = None, threads: int | None = None,
                        method: str = "auto") -> tuple[LogitCalibration, CalibrationSummary]:
    """`stance calibrate`: fit the calibration (`method`, see model.calibration.choose_calibration)
    on `data` (default: the model's own dev split) and write calibration.json into `model_dir`;
    the summary scores the fit on the same sentences.

    The fit is on raw logits (the torch backend undoes any map already folded into the weights),
    and the new map replaces the old one in model.safetensors, so that the weights alone stay
    calibrated. ONNX files keep their own fold, which calibration.json records.
    """
    records = load_records(data) if data else split_records_of(model_dir, "dev")
    if not records:
        raise DataError(f"{model_dir}: no dev split to calibrate on (splits.json or its data is missing, "
                        f"or the dev split is empty); pass a labelled JSONL file")
    classifier = StanceClassifier.from_pretrained(model_dir, backend="torch", threads=threads)
    previous = classifier.calibration
    texts, gold, contexts = [r.text for r in records], [r.label for r in records], contexts_for(records, classifier.context)
    fitted = calibrate(classifier, texts, gold, contexts, str(data) if data else f"dev split ({SPLITS_FILE})",
                       groups=[r.article_id for r in records], method=method)
    calibration = replace(fitted, folded=previous.folded).with_folded([WEIGHTS_FILE], fitted.affine)
    refold_weights_file(model_dir, previous.folded_into(WEIGHTS_FILE), calibration.affine)
    calibration.save(model_dir)
    classifier.calibration = calibration
    logits = classifier.predict_logits(texts, contexts)
    return calibration, summarize_calibration(logits, gold, classifier.labels, calibration)


def evaluate_model_dir(model_dir: str | Path, data_path: str | Path, out_dir: str | Path | None = None,
                       bootstrap_samples: int = 1000, backend: str = "auto", threads: int | None = None) -> EvaluationResult:
    """`stance evaluate`: load the model (on `backend`, see StanceClassifier.from_pretrained), score
    it on `data_path`, write the report files."""
    records = load_records(data_path)
    classifier = StanceClassifier.from_pretrained(model_dir, backend=backend, threads=threads)
    result = evaluate_records(classifier, records, name=f"model {Path(model_dir).name}", data=str(data_path),
                              train_records=training_records_of(model_dir), bootstrap_samples=bootstrap_samples)
    out = Path(out_dir) if out_dir else Path(model_dir) / REPORTS_DIR / Path(data_path).stem
    write_report(result, out)
    return result
