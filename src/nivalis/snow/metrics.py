"""Snow metrics: RMSE of predicted layer thickness per target year and pooled (seed 000 §V).

In pixels, as Table II: :math:`\\mathrm{RMSE}_p = \\sqrt{\\tfrac1M \\sum_m (\\hat h_{mp} - h_{mp})^2}` over the
M test nodes of target year p. In water equivalent, each node's error is scaled by its tracked layer's
m w.e. per pixel :math:`w_{mp}` (density and pixel depth at that layer, `nivalis.snow.graphs.load_dataset`):
:math:`\\sqrt{\\tfrac1M \\sum_m w_{mp}^2 (\\hat h_{mp} - h_{mp})^2}`, nodes without a finite :math:`w` left out.
"""

from __future__ import annotations

import numpy as np
import torch


def rmse_per_year(pred: torch.Tensor, target: torch.Tensor, scale: np.ndarray | torch.Tensor | None = None
                  ) -> tuple[list[float], float]:
    """RMSE of every target layer over all test nodes, and over all layers pooled.

    `scale` [R, N, P]: per-node units per pixel (m w.e. per px); the errors are multiplied by it and nodes
    whose scale is not finite are left out (a year with none gives NaN).
    """
    err = (pred - target).double()
    if scale is None:
        sq = err ** 2
        return sq.reshape(-1, sq.shape[-1]).mean(0).sqrt().tolist(), float(sq.mean().sqrt())
    scale = torch.as_tensor(np.asarray(scale, dtype=np.float64))
    keep = torch.isfinite(scale)
    sq = torch.where(keep, (err * torch.nan_to_num(scale)) ** 2, torch.zeros((), dtype=torch.float64))
    sq, keep = sq.reshape(-1, sq.shape[-1]), keep.reshape(-1, keep.shape[-1])
    per_year = (sq.sum(0) / keep.sum(0)).sqrt().tolist()  # 0/0 -> NaN for a year with no finite scale
    return per_year, float((sq.sum() / keep.sum()).sqrt())
