"""Figures saved as PNG atomically (matplotlib's Agg backend, no display needed)."""

from __future__ import annotations

from pathlib import Path

from nivalis.files import atomic_path


def pyplot():
    """matplotlib.pyplot on the Agg backend (imported on first use: the zoo and snow libraries do not need it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Save a matplotlib figure as PNG atomically and close it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    pyplot().close(fig)
    return path


__all__ = ["pyplot", "save_figure"]
