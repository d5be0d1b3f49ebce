"""How many inference threads this process should use: one per physical core it may run on.

Hyper-threads share a core's vector units, so a second thread per core only adds contention
for matrix multiplication; CPU affinity and a cgroup quota (containers, CI) shrink what
`os.cpu_count()` reports as the machine's.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

_TOPOLOGY = Path("/sys/devices/system/cpu")
_CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def physical_cores_available() -> int:
    """Physical cores among the CPUs this process may use, capped by a cgroup CPU quota (at least 1)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    cores = {_core_of(cpu) for cpu in cpus}
    quota = _cgroup_cpu_quota()
    return max(1, min(len(cores), quota) if quota else len(cores))


def _core_of(cpu: int) -> tuple[str, str]:
    """(package, core) of a logical CPU; the CPU itself where the topology is not readable."""
    topology = _TOPOLOGY / f"cpu{cpu}" / "topology"
    try:
        return (topology / "physical_package_id").read_text().strip(), (topology / "core_id").read_text().strip()
    except OSError:
        return "cpu", str(cpu)


def _cgroup_cpu_quota() -> int | None:
    """Whole CPUs allowed by a cgroup v2 quota ("max" or unreadable: no limit)."""
    try:
        quota, period = _CGROUP_CPU_MAX.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, math.ceil(int(quota) / int(period)))
