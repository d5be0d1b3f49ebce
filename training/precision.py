"""Mixed precision for the training step: bf16 autocast where the hardware computes bf16 natively.

On a CPU with AVX-512 BF16 or AMX (or a GPU with bf16), autocasting the forward pass to bf16
cuts a large encoder's step time (`bench/bench_train_step.py --precisions fp32 bf16` measures
it); elsewhere bf16 arithmetic is emulated, no gain is to be had, and 'auto' keeps fp32. The loss
is always computed in fp32, and evaluation, calibration and the saved weights stay fp32 whatever
the training precision.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from model.cpu_features import CPUINFO, cpu_flags

_NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_native_bf16(cpuinfo: Path = CPUINFO) -> bool:
    """True when the CPU advertises bf16 arithmetic (AVX-512 BF16 or AMX); False where it cannot tell."""
    return any(flag in cpu_flags(cpuinfo) for flag in _NATIVE_BF16_FLAGS)


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision a run actually trains in: 'auto' becomes 'bf16' only on native bf16 hardware."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def autocast_for(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The context the forward pass runs in: bf16 autocast, or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def step_budget(max_steps: int, max_steps_fp32: int, precision: str) -> int:
    """The most steps a run may take: max_steps, capped at max_steps_fp32 where the steps run in fp32.

    The main job's step budget is set so that it finishes in its wall-clock budget with bf16;
    fp32 steps cost about twice as much on a CPU, so without native bf16 the same time buys fewer.
    A cap, not a replacement, so a short run (max_steps=4) stays short. 0 means no limit.
    """
    if precision != "fp32" or not max_steps_fp32:
        return max_steps
    return min(max_steps, max_steps_fp32) if max_steps else max_steps_fp32
