"""The one place that sets matplotlib up (the file-only Agg backend) and saves figures, atomically
like every other output. Modules that plot import `plt` from here."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from model.atomic_files import replaced_atomically  # noqa: E402


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 120) -> None:
    """Save `fig` as PNG at `path` (written under a temporary name, then renamed) and close it."""
    try:
        with replaced_atomically(path) as scratch:
            fig.savefig(scratch, dpi=dpi, format="png")
    finally:
        plt.close(fig)


def plot_f1_curve(sizes: list[int], macro_f1: list[float], per_class_f1: dict[str, list[float]], path: str | Path,
                  xlabel: str, ylabel: str, log2_x: bool = False) -> None:
    """Macro-F1 (bold) and each class's F1 (dashed) against a growing amount of data, saved as PNG."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(sizes, macro_f1, marker="o", label="macro-F1", linewidth=2)
    for label, values in per_class_f1.items():
        ax.plot(sizes, values, marker=".", linestyle="--", label=label)
    if log2_x:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
