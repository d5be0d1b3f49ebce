import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.pass_plan import plan_passes


def cost(lengths, passes, pass_cost):
    return sum(pass_cost + (end - first) * lengths[end - 1] for first, end in passes)


def every_plan(count, max_rows):
    """All ways to cut `count` sorted rows into passes of at most max_rows (small counts only)."""
    for cuts in itertools.product((False, True), repeat=max(count - 1, 0)):
        bounds = [0] + [i + 1 for i, c in enumerate(cuts) if c] + [count]
        passes = list(zip(bounds, bounds[1:]))
        if all(end - first <= max_rows for first, end in passes):
            yield passes


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(1, 128), min_size=0, max_size=9), st.integers(1, 5), st.sampled_from([0.0, 8.0, 64.0, 500.0]))
def test_the_plan_covers_every_row_in_order_and_no_plan_costs_less(raw, max_rows, pass_cost):
    lengths = sorted(raw)
    passes = plan_passes(np.array(lengths), max_rows, pass_cost)
    assert [r for first, end in passes for r in range(first, end)] == list(range(len(lengths)))
    assert all(1 <= end - first <= max_rows for first, end in passes)
    best = min(cost(lengths, p, pass_cost) for p in every_plan(len(lengths), max_rows)) if lengths else 0
    assert cost(lengths, passes, pass_cost) == pytest.approx(best)


def test_a_large_pass_cost_gives_the_fewest_fullest_passes_and_none_gives_no_padding():
    lengths = np.array([5, 5, 6, 9, 9, 9, 20, 40, 41, 100])
    assert len(plan_passes(lengths, 4, 1e9)) == 3  # ceil(10 / 4)
    no_cost = plan_passes(lengths, 4, 0.0)
    assert all(lengths[first] == lengths[end - 1] for first, end in no_cost)  # each pass one length: nothing padded


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="max_rows must be at least 1"):
        plan_passes(np.array([3, 4]), 0)
    with pytest.raises(ValueError, match="ascending"):
        plan_passes(np.array([9, 4]), 4)
