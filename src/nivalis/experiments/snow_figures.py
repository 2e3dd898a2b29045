"""Figures of seed 000: Fig. 3 (true vs predicted layers over the echogram) and Fig. 4 (true vs predicted per year)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nivalis.snow.config import SnowConfig
from nivalis.snow.graphs import layer_indices
from nivalis.snow.readers.dispatch import load_radargram


def _find_file(data_dir, name: str) -> Path | None:
    if data_dir is None:
        return None
    root = Path(data_dir)
    if root.is_file():
        return root if root.stem == name else None
    direct = root / f"{name}.mat"
    if direct.is_file():
        return direct
    return next(iter(root.rglob(f"{name}.mat")), None)


def predicted_rows(layers: np.ndarray, pred_oldest_first: np.ndarray, cfg: SnowConfig) -> np.ndarray:
    """[P + 1, N] layer rows implied by predicted thicknesses, stacked from the boundary above the targets."""
    _, target_idx = layer_indices(cfg)
    top_down = np.asarray(pred_oldest_first)[:, ::-1].T          # [P, N] shallowest target first
    anchor = layers[min(target_idx)]
    return np.vstack([anchor, anchor + np.cumsum(top_down, axis=0)])


def _example_rmse(ex: dict[str, Any]) -> np.ndarray:
    return np.sqrt(((ex["pred"] - ex["target"]) ** 2).mean(axis=(1, 2)))


def figure_overlay(path: str | Path, example: dict[str, Any], cfg: SnowConfig, data_dir, label: str) -> Path:
    """Fig. 3: best- and worst-fitting test radargram, true (green) and predicted (red) target layers."""
    import matplotlib.pyplot as plt

    from nivalis.figures import save_figure

    rmse = _example_rmse(example)
    order = np.argsort(rmse)
    picks = [("good fit", int(order[0])), ("poor fit", int(order[-1]))]
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
    _, target_idx = layer_indices(cfg)
    for ax, (kind, i) in zip(axes, picks):
        name = example["names"][i]
        file = _find_file(data_dir, name)
        radargram = load_radargram(file, echogram=True) if file is not None else None
        if radargram is None:
            ax.text(0.5, 0.5, f"{name}.mat not found", ha="center", transform=ax.transAxes)
            continue
        layers = radargram.layers
        true_rows = layers[min(target_idx):max(target_idx) + 2]
        pred_rows = predicted_rows(layers, example["pred"][i], cfg)
        cols = np.arange(layers.shape[1])
        deepest = np.nanmax(layers[:cfg.rows_needed])
        top, bottom = max(np.nanmin(layers[0]) - 25, 0), deepest + 40
        if radargram.echogram is not None:
            ax.imshow(radargram.echogram, cmap="gray", aspect="auto", interpolation="nearest")
            context = "echogram"
        else:
            ax.set_facecolor("0.93")
            context = "tracked layers (no echogram in file)"
        for row in layers[:cfg.rows_needed]:
            ax.plot(cols, row, color="0.55", lw=0.6)
        for k, row in enumerate(true_rows):
            ax.plot(cols, row, color="#1fbf3f", lw=1.3, label="true" if k == 0 else None)
        for k, row in enumerate(pred_rows):
            ax.plot(cols, row, color="#e8262b", lw=1.1, ls="--", label="predicted" if k == 0 else None)
        ax.set_ylim(bottom, top)
        ax.set_xlim(0, layers.shape[1] - 1)
        ax.set_title(f"{kind}: {name}  (RMSE {rmse[i]:.2f} px)", fontsize=10)
        ax.set_xlabel("trace (column)")
        ax.set_ylabel(f"row (image pixel), {context}")
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{label}: target layers over the radargram (green = tracked, red = predicted)", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)


def figure_true_vs_predicted(path: str | Path, example: dict[str, Any], years: list[str], label: str,
                             seed: int = 0, nodes: int = 400) -> Path:
    """Fig. 4: tracked vs predicted thickness of every target year over a random sample of test nodes, each panel's
    nodes sorted by tracked thickness (a curve), predictions as points (nodes are not a sequence: no line joins them)."""
    import matplotlib.pyplot as plt

    from nivalis.figures import save_figure

    pred = example["pred"].reshape(-1, example["pred"].shape[-1])
    true = example["target"].reshape(-1, example["target"].shape[-1])
    rng = np.random.default_rng(seed)
    pick = rng.permutation(pred.shape[0])[:nodes]
    fig, axes = plt.subplots(len(years), 1, figsize=(11, 1.9 * len(years) + 0.6), sharex=True)
    axes = np.atleast_1d(axes)
    for j, (ax, year) in enumerate(zip(axes, years)):
        rmse = float(np.sqrt(((pred[:, j] - true[:, j]) ** 2).mean()))
        order = pick[np.argsort(true[pick, j], kind="stable")]
        ax.plot(true[order, j], color="C0", lw=1.2, label="tracked")
        ax.plot(pred[order, j], ".", color="C1", ms=2.5, label="predicted")
        ax.set_ylabel(f"{year}\n(px)")
        ax.text(0.995, 0.92, f"RMSE {rmse:.2f} px (all {pred.shape[0]} test nodes)", transform=ax.transAxes,
                ha="right", va="top", fontsize=8, bbox={"fc": "white", "alpha": 0.7, "lw": 0})
        ax.grid(alpha=0.3)
        if j == 0:
            ax.legend(loc="upper left", fontsize=8, ncol=2)
    axes[-1].set_xlabel(f"test nodes sorted by tracked thickness ({len(pick)} random of {pred.shape[0]} shown)")
    fig.suptitle(f"{label}: tracked vs predicted layer thickness per year", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)


__all__ = ["figure_overlay", "figure_true_vs_predicted", "predicted_rows"]
