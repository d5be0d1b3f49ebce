"""The fine-tuning loop: config in, a self-contained model directory out.

Reads top to bottom: data, model, optimiser, loop with dev evaluation and early stopping,
then the best weights, tokenizer, config, splits, metrics and model card written at once.
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import DataCollatorWithPadding, get_linear_schedule_with_warmup, set_seed

from eval.calibration import calibrate
from eval.evaluate import SPLITS_FILE, evaluate_records
from eval.metrics import macro_f1
from eval.report import EvaluationResult, write_report
from model.atomic_files import publish_dir, staging_dir, write_text_atomic
from model.classifier import LABEL_MAP_FILE, StanceClassifier
from model.onnx_export import export_onnx, require_export_tools
from model.labels import LABEL_TO_ID, LABELS
from training.checkpoints import LoopState, remove_checkpoints, resume_checkpoint, save_checkpoint
from training.config import ConfigError, TrainConfig, save_config
from training.data import Record, label_counts, load_records, to_dataset
from training.sources import build_training_data
from training.start_model import load_start_model
from training.model_card import render_model_card
from training.preflight import check_run_inputs

if TYPE_CHECKING:
    from training.distill import Distillation


@dataclass
class TrainResult:
    """What a run produced and how it went."""

    output_dir: Path
    best_dev_macro_f1: float | None
    best_step: int
    steps: int
    seconds: float
    test: EvaluationResult | None
    extra: dict[str, EvaluationResult] = field(default_factory=dict)
    dev_history: list[dict] = field(default_factory=list)


def class_weights(records: list[Record]) -> torch.Tensor:
    """Inverse-frequency weights (n / (k * count)); an absent class gets weight 1."""
    counts = label_counts(records)
    total, k = len(records), len(LABELS)
    return torch.tensor([total / (k * counts[label]) if counts[label] else 1.0 for label in LABELS], dtype=torch.float32)


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Shuffled batches of similar length, so dynamic padding wastes little compute.

    Indices are shuffled, cut into windows of 50 batches, sorted by length inside each window,
    batched, and the batches shuffled again: random enough to train on, tight enough to pad.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    window = batch_size * 50
    batches = []
    for first in range(0, len(order), window):
        chunk = sorted(order[first:first + window], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _dev_macro_f1(classifier: StanceClassifier, records: list[Record], contexts: list[str]) -> float:
    probabilities = classifier.predict_proba([r.text for r in records], contexts)
    return macro_f1([r.label for r in records], [classifier.labels[i] for i in probabilities.argmax(axis=1)])


def train(config: TrainConfig, progress: bool = True, distillation: Distillation | None = None) -> TrainResult:
    """Fine-tune `config.base_model` on `config.data` and write the model directory.

    Runs on the GPU when torch sees one. With `distillation` (training/distill.py), the loss
    also follows a teacher's probabilities, over the training split and any unlabelled text.
    """
    started = time.perf_counter()
    if config.export_onnx != "none":
        require_export_tools()  # fail now, not after the training run
    set_seed(config.seed)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)

    data = build_training_data(config)
    splits = data.splits
    start = load_start_model(config)
    model, tokenizer, base = start.model, start.tokenizer, start.source

    extra_records = check_run_inputs(config, splits, base)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    pairs = config.context != "none"
    if distillation and pairs:
        raise ConfigError("distillation reads sentences without context; set context=none")
    train_set = (distillation.dataset(splits.train) if distillation
                 else to_dataset(splits.train, data.contexts_of(splits.train) if pairs else None))
    train_set = train_set.map(
        lambda batch: tokenizer(batch["text"], batch["context"] if pairs else None, truncation=True, max_length=config.max_length),
        batched=True, remove_columns=[c for c in train_set.column_names if c not in ("label", "soft_targets")])
    lengths = [len(ids) for ids in train_set["input_ids"]]
    collate = DataCollatorWithPadding(tokenizer)
    steps_per_epoch = len(length_grouped_batches(lengths, config.batch_size, config.seed, 0))
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)

    no_decay = ("bias", "LayerNorm.weight", "LayerNorm.bias")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)], "weight_decay": config.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    weights = class_weights(splits.train) if config.class_weighting == "balanced" else None
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights).to(device)
    classifier = StanceClassifier(model, tokenizer, config.max_length, config.eval_batch_size, context=config.context)
    dev_contexts = data.contexts_of(splits.dev)

    best_f1, best_step, best_state, stale, step, history = None, 0, None, 0, 0, []
    resumed = resume_checkpoint(config, model, optimizer, scheduler) if config.resume else None
    if resumed:
        best_f1, best_step, best_state, stale, step, history = resumed.values()
    eval_every = config.eval_every or steps_per_epoch
    bar = tqdm(total=total_steps, initial=step, desc="training", unit="step", disable=not progress)
    # Every epoch has the same batches, so the step count says where a resumed run picks up.
    stop, epoch, skip = False, step // steps_per_epoch, step % steps_per_epoch
    while not stop:
        model.train()
        batches = length_grouped_batches(lengths, config.batch_size, config.seed, epoch)[skip:]
        epoch, skip = epoch + 1, 0
        # Its own generator: the loader's seed draw must not move the global RNG a checkpoint restores.
        loader = DataLoader(train_set, batch_sampler=batches, collate_fn=collate, generator=torch.Generator())
        for batch in loader:
            batch = {name: tensor.to(device) for name, tensor in batch.items()}
            labels, soft_targets = batch.pop("labels"), batch.pop("soft_targets", None)
            logits = model(**batch).logits
            loss = loss_fn(logits, labels) if soft_targets is None else distillation.loss(logits, soft_targets, labels, loss_fn)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
            last = step >= total_steps
            if splits.dev and (step % eval_every == 0 or last):
                dev_f1 = _dev_macro_f1(classifier, splits.dev, dev_contexts)
                model.train()
                history.append({"step": step, "dev_macro_f1": dev_f1, "loss": float(loss.item())})
                bar.write(f"step {step}: dev macro-F1 {dev_f1:.4f}")
                if best_f1 is None or dev_f1 > best_f1:
                    best_f1, best_step, stale = dev_f1, step, 0
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    stale += 1
                    if config.patience and stale >= config.patience:
                        bar.write(f"early stopping: no dev gain in {stale} evaluations")
                        stop = True
                        break
            if config.checkpoint_every and step % config.checkpoint_every == 0 and not last:
                save_checkpoint(config, model, optimizer, scheduler, LoopState(step, best_f1, best_step, stale, history), best_state)
            if last:
                stop = True
                break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_step = step
    model.eval()

    out = Path(config.output_dir)
    staged = staging_dir(out)
    model.save_pretrained(staged, safe_serialization=True)
    tokenizer.save_pretrained(staged)
    write_text_atomic(staged / LABEL_MAP_FILE, json.dumps(
        {"labels": list(LABELS), "label2id": LABEL_TO_ID, "max_length": config.max_length, "context": config.context}, indent=2))
    save_config(config, staged / "config.yaml")
    split_ids = splits.article_ids()
    split_ids["data"] = str(Path(data.sources[0].path).resolve())
    split_ids["extra_data"] = [str(Path(s.path).resolve()) for s in data.sources[1:]]
    write_text_atomic(staged / SPLITS_FILE, json.dumps(split_ids, indent=2))
    if splits.dev:  # temperature scaling on dev; the test and extra reports below then show calibrated ECE
        calibrate(classifier, splits.dev, fitted_on=f"{config.data} (dev split)").save(staged)
    if distillation:
        write_text_atomic(staged / "distillation.json", json.dumps(distillation.summary(), indent=2))

    test = None
    if splits.test:
        test = evaluate_records(classifier, splits.test, name="model", data=f"{config.data} (test split)",
                                train_records=splits.train, bootstrap_samples=config.bootstrap_samples, seed=config.seed)
        write_report(test, staged / "eval" / "test")
    extra = {}
    for path, records in extra_records.items():
        extra[path] = evaluate_records(classifier, records, name="model", data=path,
                                       train_records=splits.train, bootstrap_samples=config.bootstrap_samples, seed=config.seed)
        write_report(extra[path], staged / "eval" / Path(path).stem)

    seconds = time.perf_counter() - started
    summary = {
        "macro_f1": test.metrics.macro_f1 if test else None,
        "accuracy": test.metrics.accuracy if test else None,
        "per_class": test.metrics.per_class if test else None,
        "test": test.to_dict() if test else None,
        "dev": {"best_macro_f1": best_f1, "best_step": best_step, "history": history},
        "extra_eval": {path: result.to_dict() for path, result in extra.items()},
        "training": {"steps": step, "seconds": round(seconds, 1), "train_sentences": len(splits.train),
                     "train_articles": len(split_ids["train"]), "dev_articles": len(split_ids["dev"]),
                     "test_articles": len(split_ids["test"]), "base_model": config.base_model, "resolved_base_model": base,
                     "resumed_from_step": resumed.loop.step if resumed else None,
                     "init_from": config.init_from or None, "context": config.context},
    }
    write_text_atomic(staged / "metrics.json", json.dumps(summary, indent=2))
    write_text_atomic(staged / "README.md", render_model_card(config, summary, label_counts(splits.train)))
    if config.export_onnx != "none":
        export_onnx(staged, int8=config.export_onnx == "int8")
    publish_dir(staged, out)
    remove_checkpoints(out)
    return TrainResult(out, best_f1, best_step, step, seconds, test, extra, history)
