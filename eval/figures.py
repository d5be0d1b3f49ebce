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
