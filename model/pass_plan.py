"""Where a length-sorted list of sentences is cut into forward passes.

Every pass is padded to its longest sentence, and every pass also costs something fixed besides
its tokens (running the graph's operators once, the threads' hand-offs). Passes of a fixed size
pay too much padding where the lengths spread (a few dozen sentences of one article, as a
server sees them) and too many fixed costs where they do not. `plan_passes` picks the cuts that
minimise padded tokens plus a fixed cost per pass, with at most `max_rows` sentences in a pass:
a small dynamic programme over the sorted lengths.
"""
from __future__ import annotations

import numpy as np

# The fixed cost of one pass, in tokens of a pass's work: measured for the int8 ONNX model and
# PyTorch by bench/bench_pass_cost.py (docs/serve_benchmark.md).
PASS_COST_TOKENS = 88.0


def plan_passes(sorted_lengths: np.ndarray, max_rows: int, pass_cost_tokens: float = PASS_COST_TOKENS) -> list[tuple[int, int]]:
    """Consecutive (first, end) row ranges covering `sorted_lengths` (ascending token counts),
    each at most `max_rows` long, with the least padded tokens plus `pass_cost_tokens` per pass."""
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    lengths = np.asarray(sorted_lengths, dtype=np.float64)
    count = len(lengths)
    if count and np.any(np.diff(lengths) < 0):
        raise ValueError("plan_passes needs lengths sorted in ascending order")
    best = np.zeros(count + 1)
    cut = np.zeros(count + 1, dtype=np.int64)
    for end in range(1, count + 1):
        firsts = np.arange(max(0, end - max_rows), end)
        # A pass from `first` to `end` is padded to lengths[end - 1], the longest in it.
        costs = best[firsts] + pass_cost_tokens + (end - firsts) * lengths[end - 1]
        choice = int(np.argmin(costs))
        best[end], cut[end] = costs[choice], firsts[choice]
    passes, end = [], count
    while end > 0:
        passes.append((int(cut[end]), end))
        end = int(cut[end])
    return passes[::-1]
