"""Squeeze-and-excitation (Hu et al. 2018, seed 001 "Squeeze & excitation"): a learned channel gain.

.. math::
    z_c = \\frac{1}{HW} \\sum_{i,j} U_{c,i,j}, \\qquad
    s = \\sigma\\big(W_2\\, \\delta(W_1 z)\\big), \\qquad \\tilde X_c = s_c\\, U_c

`W_1` reduces C channels to `rd_channels` (C/16 in SENet), δ is ReLU (SiLU in EfficientNet), σ is the
sigmoid (hard sigmoid in MobileNetV3). `W_1`, `W_2` are 1×1 convolutions with bias, as in the papers'
fully connected layers.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from nivalis.layers.conv_bn_act import make_activation


class SqueezeExcite(nn.Module):
    """Channel attention: global average → 1×1 reduce → act → 1×1 expand → gate → rescale.

    Args:
        channels: C, channels of the feature map that is rescaled.
        rd_ratio: reduction ratio (1/16 in SENet) used when `rd_channels` is not given.
        rd_channels: explicit squeezed width (MobileNetV3 and EfficientNet compute their own).
        act: δ, the activation between the two layers.
        gate: σ, the gate producing s in [0, 1].

    Shapes: input and output (N, C, H, W).
    """

    def __init__(self, channels: int, rd_ratio: float = 1 / 16, rd_channels: int | None = None,
                 act: str = "relu", gate: str = "sigmoid"):
        super().__init__()
        rd_channels = rd_channels or max(1, round(channels * rd_ratio))
        self.fc1 = nn.Conv2d(channels, rd_channels, 1, bias=True)
        self.act = make_activation(act)
        self.fc2 = nn.Conv2d(rd_channels, channels, 1, bias=True)
        self.gate = make_activation(gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        s = self.gate(self.fc2(self.act(self.fc1(s))))
        return x * s
