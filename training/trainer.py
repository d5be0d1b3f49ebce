"""The fine-tuning loop: config in, a self-contained model directory out.

Reads top to bottom: data, model, optimiser, loop with dev evaluation and early stopping, then
the best weights, tokenizer, label map, config, splits and temperature written at once. What the
loop minimises is a TrainingObjective (training/objective.py). Reports on the finished model (test
split, extra_eval, metrics.json, model card) are written by the caller's `finish` hook
(eval/post_training.py for `stance train` and `stance distill`), into the same staged directory,
so the published directory is complete or absent.
"""
from __future__ import annotations

import copy
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import DataCollatorWithPadding, get_linear_schedule_with_warmup, set_seed

from model.atomic_files import publish_dir, staging_dir, write_text_atomic
from model.calibration import calibrate
from model.classifier import StanceClassifier
from model.export.onnx_export import export_onnx, require_export_tools
from model.labels import LABELS
from model.model_dir import TRAINING_CONFIG_FILE, write_label_map, write_splits
from model.calibration_folding import fold_into_classifier
from training.checkpoints import LoopState, remove_checkpoints, resume_checkpoint, save_checkpoint
from training.config import TrainConfig, resolve_optional_inputs, save_config
from training.data import Record, Splits, contexts_for
from training.dev_score import macro_f1
from training.distill import objective_for
from training.objective import TrainingObjective
from training.precision import autocast_for, resolve_precision, step_budget
from training.preflight import check_run_inputs
from training.sources import build_training_data
from training.start_model import load_start_model
from training.weight_average import WeightAverage

TARGET_COLUMNS = ("labels", "soft_targets")  # what the collated batch holds beside the model's inputs


@dataclass
class TrainResult:
    """What a run produced and how it went."""

    output_dir: Path
    best_dev_macro_f1: float | None
    best_step: int
    steps: int
    seconds: float
    dev_history: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # optional inputs left out on this machine
    precision: str = "fp32"  # what the steps really ran in ('auto' resolved for this machine)


@dataclass
class TrainedRun:
    """A finished run before its directory is published: what a `finish` hook reports on."""

    config: TrainConfig
    directory: Path  # the staged model directory; the hook writes its reports here
    classifier: StanceClassifier
    splits: Splits
    split_ids: dict[str, list[str]]
    extra_eval: dict[str, list[Record]]  # the extra_eval files, loaded and checked before training
    base_model: str  # where the start weights came from
    result: TrainResult
    resumed_from_step: int | None
    started: float  # time.perf_counter() at the start of `train`


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


def train(config: TrainConfig, progress: bool = True, objective: TrainingObjective | None = None,
          finish: Callable[[TrainedRun], None] | None = None) -> TrainResult:
    """Fine-tune `config.base_model` on `config.data` and write the model directory.

    Runs on the GPU when torch sees one. `objective` says what to minimise (default: weighted
    cross-entropy); `finish` runs on the finished run just before its directory is published.
    """
    started = time.perf_counter()
    resolved = resolve_optional_inputs(config)
    config = resolved.config
    for note in resolved.notes:
        tqdm.write(f"note: {note}")
    objective = objective or objective_for(config)
    if config.export_onnx != "none":
        require_export_tools()  # fail now, not after the training run
    set_seed(config.run_seed)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)

    data = build_training_data(config)
    splits = data.splits
    start = load_start_model(config)
    model, tokenizer, base = start.model, start.tokenizer, start.source

    extra_records = check_run_inputs(config, splits, base)
    objective.check(config)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    precision = resolve_precision(config.precision, device)
    if precision != config.precision:
        tqdm.write(f"note: precision 'auto' trains in {precision} on this {device.type}")
    pairs = config.context != "none"
    train_set = objective.dataset(splits.train, data.contexts_of(splits.train) if pairs else None)
    train_set = train_set.map(
        lambda batch: tokenizer(batch["text"], batch["context"] if pairs else None, truncation=True, max_length=config.max_length),
        batched=True, remove_columns=[c for c in train_set.column_names if c not in ("label", "soft_targets")])
    lengths = [len(ids) for ids in train_set["input_ids"]]
    collate = DataCollatorWithPadding(tokenizer)
    steps_per_epoch = len(length_grouped_batches(lengths, config.batch_size, config.run_seed, 0))
    total_steps = config.epochs * steps_per_epoch
    most_steps = step_budget(config.max_steps, config.max_steps_fp32, precision)
    if most_steps:
        total_steps = min(total_steps, most_steps)
    if most_steps != config.max_steps:
        tqdm.write(f"note: fp32 steps cost more: at most {most_steps} steps (max_steps_fp32), not {config.max_steps}")

    if config.freeze_word_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    no_decay = ("bias", "LayerNorm.weight", "LayerNorm.bias")
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in trained if not n.endswith(no_decay)], "weight_decay": config.weight_decay},
        {"params": [p for n, p in trained if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    average = WeightAverage(model, config.ema_decay) if config.ema_decay else None
    objective.prepare(config, splits.train, device)
    classifier = StanceClassifier(model, tokenizer, config.max_length, config.eval_batch_size, context=config.context)
    dev_contexts = data.contexts_of(splits.dev)

    best_f1, best_step, best_state, stale, step, history = None, 0, None, 0, 0, []
    resumed = resume_checkpoint(config, model, optimizer, scheduler, average) if config.resume else None
    if resumed:
        best_f1, best_step, best_state, stale, step, history = resumed.values()
    eval_every = config.eval_every or steps_per_epoch
    bar = tqdm(total=total_steps, initial=step, desc="training", unit="step", disable=not progress)
    # Every epoch has the same batches, so the step count says where a resumed run picks up.
    stop, epoch, skip = False, step // steps_per_epoch, step % steps_per_epoch
    while not stop:
        model.train()
        batches = length_grouped_batches(lengths, config.batch_size, config.run_seed, epoch)[skip:]
        epoch, skip = epoch + 1, 0
        # Its own generator: the loader's seed draw must not move the global RNG a checkpoint restores.
        loader = DataLoader(train_set, batch_sampler=batches, collate_fn=collate, generator=torch.Generator())
        for batch in loader:
            batch = {name: tensor.to(device) for name, tensor in batch.items()}
            targets = {name: batch.pop(name) for name in TARGET_COLUMNS if name in batch}
            with autocast_for(precision, device):
                logits = model(**batch).logits
            loss = objective.loss(logits.float(), targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            if average:
                average.update(model)
            optimizer.zero_grad(set_to_none=True)
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
            last = step >= total_steps
            if splits.dev and (step % eval_every == 0 or last):
                with average.applied(model) if average else nullcontext():
                    dev_f1 = _dev_macro_f1(classifier, splits.dev, dev_contexts)
                    improved = best_f1 is None or dev_f1 > best_f1
                    if improved:  # the weights evaluated: the average where there is one
                        best_state = copy.deepcopy(model.state_dict())
                model.train()
                history.append({"step": step, "dev_macro_f1": dev_f1, "loss": float(loss.item())})
                bar.write(f"step {step}: dev macro-F1 {dev_f1:.4f}")
                if improved:
                    best_f1, best_step, stale = dev_f1, step, 0
                else:
                    stale += 1
                    if config.patience and stale >= config.patience:
                        bar.write(f"early stopping: no dev gain in {stale} evaluations")
                        stop = True
                        break
            if config.checkpoint_every and step % config.checkpoint_every == 0 and not last:
                save_checkpoint(config, model, optimizer, scheduler, LoopState(step, best_f1, best_step, stale, history),
                                best_state, average)
            if last:
                stop = True
                break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_step = step
        if average:
            average.copy_to(model)
    model.eval()

    out = Path(config.output_dir)
    staged = staging_dir(out)
    # Fit the calibration and fold it into the head before the weights are saved, so that the
    # weights alone (a plain transformers.pipeline) give the calibrated probabilities too.
    calibration = None
    if splits.dev:  # calibrated on dev; the reports written after it then show calibrated ECE
        fitted = calibrate(classifier, [r.text for r in splits.dev], [r.label for r in splits.dev],
                           contexts_for(splits.dev, classifier.context), fitted_on=data.dev_description,
                           groups=[r.article_id for r in splits.dev], method=config.calibration)
        calibration = fold_into_classifier(classifier, fitted)
    model.save_pretrained(staged, safe_serialization=True)
    tokenizer.save_pretrained(staged)
    write_label_map(staged, LABELS, config.max_length, config.context)
    save_config(config, staged / TRAINING_CONFIG_FILE)
    split_ids = splits.article_ids()
    write_splits(staged, split_ids, data.sources[0].path, [s.path for s in data.sources[1:]])
    if calibration is not None:
        calibration.save(staged)
    for name, text in objective.files().items():
        write_text_atomic(staged / name, text)

    result = TrainResult(out, best_f1, best_step, step, time.perf_counter() - started, history, resolved.notes, precision)
    if finish:
        finish(TrainedRun(config, staged, classifier, splits, split_ids, extra_records, base, result,
                          resumed.loop.step if resumed else None, started))
    result.seconds = time.perf_counter() - started
    if config.export_onnx != "none":
        export_onnx(staged, int8=config.export_onnx == "int8")
    publish_dir(staged, out)
    remove_checkpoints(out)
    return result
