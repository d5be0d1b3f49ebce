"""Training checkpoints, so that a killed run continues where it stopped instead of starting over.

Every `checkpoint_every` steps the trainer writes OUTPUT_DIR.checkpoints/step-NNNNNNNN/: the model
and best-so-far weights, the optimiser's tensors and any weight average (`ema_decay`) as
safetensors, and everything else (step, best dev score, dev history, optimiser and scheduler
settings, Python/NumPy/torch random state, the config) as JSON. Nothing is pickled, so resuming
never unpickles a file, even one the run wrote itself. A checkpoint is built in a hidden staging
directory and renamed into place whole, so a kill at any moment leaves the previous complete
checkpoint intact; older ones are deleted only after the new one is in place, and all of them once
the model directory is published.
"""
from __future__ import annotations

import dataclasses
import json
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from model.atomic_files import staging_dir, write_text_atomic
from training.config import ConfigError, TrainConfig
from training.weight_average import WeightAverage

STATE_FILE = "state.json"  # written last: a checkpoint directory without it is incomplete
MODEL_FILE = "model.safetensors"
BEST_FILE = "best.safetensors"
TENSORS_FILE = "optimizer_and_rng.safetensors"
FORMAT = 1
# Fields that do not change the course of training, so a run may resume with them changed.
RESUMABLE_CHANGES = frozenset({"resume", "checkpoint_every", "num_threads", "extra_eval", "bootstrap_samples", "export_onnx"})


@dataclass
class LoopState:
    """Where the training loop stands after `step` optimiser steps."""

    step: int
    best_f1: float | None
    best_step: int
    stale: int
    history: list[dict]


@dataclass
class Resumed:
    """A restored checkpoint: the loop's state, and the best weights so far (None before any dev score)."""

    loop: LoopState
    best_state: dict[str, torch.Tensor] | None
    path: Path

    def values(self) -> tuple:
        """(best_f1, best_step, best_state, stale, step, history), the trainer's loop variables."""
        loop = self.loop
        return loop.best_f1, loop.best_step, self.best_state, loop.stale, loop.step, loop.history


def checkpoint_root(output_dir: str | Path) -> Path:
    """OUTPUT_DIR.checkpoints: beside the output directory, which is replaced whole at the end."""
    out = Path(output_dir)
    return out.with_name(out.name + ".checkpoints")


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run writing to `output_dir`, if any."""
    root = checkpoint_root(output_dir)
    complete = sorted(p for p in root.glob("step-*") if (p / STATE_FILE).is_file()) if root.is_dir() else []
    return complete[-1] if complete else None


def save_checkpoint(config: TrainConfig, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler,
                    loop: LoopState, best_state: dict[str, torch.Tensor] | None,
                    average: WeightAverage | None = None) -> Path:
    """Write a complete checkpoint atomically and delete the older ones."""
    root = checkpoint_root(config.output_dir)
    final = root / f"step-{loop.step:08d}"
    staged = staging_dir(final)
    save_file(_own_copies(model.state_dict()), staged / MODEL_FILE)
    # With a weight average the best weights are an average, never the model's current ones.
    best_is_current = average is None and best_state is not None and loop.best_step == loop.step
    if best_state is not None and not best_is_current:
        save_file(_own_copies(best_state), staged / BEST_FILE)
    optimizer_state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in optimizer_state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{name}"] = value.detach().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    numpy_state = np.random.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.numpy"] = torch.from_numpy(numpy_state[1].astype(np.int64))
    if average is not None:
        tensors.update({f"average.{name}": value.contiguous() for name, value in average.tensors().items()})
    save_file(tensors, staged / TENSORS_FILE)
    state = {
        "format": FORMAT,
        "loop": dataclasses.asdict(loop),
        "best": "current" if best_is_current else ("file" if best_state is not None else None),
        "optimizer": {"param_groups": optimizer_state["param_groups"], "scalars": scalars},
        "scheduler": scheduler.state_dict(),
        "rng": {"python": random.getstate(), "numpy": [numpy_state[0], *numpy_state[2:]]},
        "config": dataclasses.asdict(config),
        "average_updates": average.updates if average is not None else None,
    }
    write_text_atomic(staged / STATE_FILE, json.dumps(state))
    if final.exists():  # left by an earlier run that was resumed from a previous step
        shutil.rmtree(final)
    staged.replace(final)
    for old in root.iterdir():
        if old != final and (old.name.startswith("step-") or old.name.endswith(".partial")):
            shutil.rmtree(old, ignore_errors=True)
    return final


def resume_checkpoint(config: TrainConfig, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                      scheduler, average: WeightAverage | None = None) -> Resumed | None:
    """Load the newest complete checkpoint into model, optimiser, scheduler and the random generators."""
    path = latest_checkpoint(config.output_dir)
    if path is None:
        print(f"resume=true: no checkpoint in {checkpoint_root(config.output_dir)}; starting from step 0", file=sys.stderr)
        return None
    state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    if state.get("format") != FORMAT:
        raise ConfigError(f"{path}: checkpoint format {state.get('format')!r} is not {FORMAT}; delete it to start over")
    _require_same_run(config, state["config"], path)
    model.load_state_dict(load_file(path / MODEL_FILE))
    tensors = load_file(path / TENSORS_FILE)
    per_param: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            per_param.setdefault(int(index), {})[name] = value
    for key, value in state["optimizer"]["scalars"].items():
        index, name = key.split(".", 1)
        per_param.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": per_param, "param_groups": state["optimizer"]["param_groups"]})
    scheduler.load_state_dict(state["scheduler"])
    if average is not None:
        average.restore({key.split(".", 1)[1]: value for key, value in tensors.items() if key.startswith("average.")},
                        state["average_updates"])
    torch.set_rng_state(tensors["rng.torch"])
    kind, *rest = state["rng"]["numpy"]
    np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), *rest))
    version, internal, gauss = state["rng"]["python"]
    random.setstate((version, tuple(internal), gauss))
    loop = LoopState(**state["loop"])
    best_state = {"file": lambda: load_file(path / BEST_FILE),
                  "current": lambda: {k: v.clone() for k, v in model.state_dict().items()},
                  None: lambda: None}[state["best"]]()
    print(f"resuming from {path} (step {loop.step})", file=sys.stderr)
    return Resumed(loop, best_state, path)


def refuse_unresumed_checkpoint(config: TrainConfig) -> None:
    """A fresh run would overwrite an interrupted one's checkpoints: ask the user which they want."""
    found = latest_checkpoint(config.output_dir)
    if found is not None and not config.resume:
        raise ConfigError(f"an interrupted run left a checkpoint in {found}; pass resume=true to continue it, "
                          f"or delete {found.parent} to start over")


def remove_checkpoints(output_dir: str | Path) -> None:
    """The run is published; its checkpoints are no longer needed."""
    shutil.rmtree(checkpoint_root(output_dir), ignore_errors=True)


def _require_same_run(config: TrainConfig, saved: dict, path: Path) -> None:
    current = dataclasses.asdict(config)
    # A field added since the checkpoint was written had its default then (e.g. precision: fp32).
    saved = {**dataclasses.asdict(TrainConfig()), **saved}
    changed = [f"{key} ({saved.get(key)!r} -> {current[key]!r})" for key in current
               if key not in RESUMABLE_CHANGES and saved.get(key) != current[key]]
    if changed:
        raise ConfigError(f"{path} was written by a run with a different config: {', '.join(changed)}; "
                          f"resume with the same config, or delete {path.parent} to start over")


def _own_copies(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses tensors that share storage (tied weights); each gets its own copy.
    seen: set[int] = set()
    out = {}
    for name, tensor in state.items():
        pointer = tensor.untyped_storage().data_ptr()
        out[name] = tensor.detach().clone().contiguous() if pointer in seen else tensor.detach().contiguous()
        seen.add(pointer)
    return out
