"""Layer normalisation over the channels of an (N, C, H, W) map, as in ConvNeXt's stem and downsampling."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm2d(nn.LayerNorm):
    """`nn.LayerNorm(C)` applied at every pixel of a channels-first tensor.

    .. math::
        y_{:,i,j} = \\gamma \\odot \\frac{x_{:,i,j} - \\mu_{i,j}}{\\sqrt{\\sigma^2_{i,j} + \\epsilon}} + \\beta
    """

    def __init__(self, num_channels: int, eps: float = 1e-6):
        super().__init__(num_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps).permute(0, 3, 1, 2)
