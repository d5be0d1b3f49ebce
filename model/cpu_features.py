"""What the CPU can compute fast: the instruction-set flags that decide int8 and bf16 speed.

Speed figures differ by CPU kind (AVX-512 VNNI against AVX2 only for int8; native bf16 or not for
mixed-precision training), so benchmarks print these flags beside every figure, and training's
`precision: auto` reads them.
"""
from __future__ import annotations

from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# The flags that change which kernels int8 inference and bf16 training get.
SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The first processor's flags from /proc/cpuinfo; empty where it cannot be read (not Linux)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return frozenset(line.split(":", 1)[1].split()) if ":" in line else frozenset()


def speed_flags_text(cpuinfo: Path = CPUINFO) -> str:
    """The speed-relevant flags present, for a benchmark's header ('no AVX2' or 'unknown' otherwise)."""
    flags = cpu_flags(cpuinfo)
    if not flags:
        return "unknown"
    return " ".join(flag for flag in SPEED_FLAGS if flag in flags) or "no AVX2"
