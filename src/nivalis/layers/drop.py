"""Stochastic depth (Huang et al. 2016): drop a residual branch for a whole sample while training.

.. math::
    y = x + \\frac{b}{1 - p} f(x), \\qquad b \\sim \\mathrm{Bernoulli}(1 - p) \\text{ per sample}

Used by EfficientNet and ConvNeXt. The mask is one tensor op per batch, no per-sample loop.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class DropPath(nn.Module):
    """Zero the branch output of a random subset of samples (prob. `drop_prob`), rescale the rest."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f"drop_prob must be in [0, 1), got {drop_prob}")
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"
