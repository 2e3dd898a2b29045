"""Snow metrics: RMSE of predicted layer thickness per target year and pooled (seed 000 §V)."""

from __future__ import annotations

import torch


def rmse_per_year(pred: torch.Tensor, target: torch.Tensor) -> tuple[list[float], float]:
    """RMSE of every target layer over all test nodes, and over all layers pooled."""
    err = (pred - target).double() ** 2
    per_year = err.reshape(-1, err.shape[-1]).mean(0).sqrt().tolist()
    return per_year, float(err.mean().sqrt())
