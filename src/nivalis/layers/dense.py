"""Dense connectivity (Huang et al. 2017; seed 001 "DenseNets included all possible skip connections").

Layer l of a dense block sees the concatenation of every earlier feature map in the block:

.. math::
    x_l = H_l([x_0, x_1, \\dots, x_{l-1}]), \\qquad
    H_l = \\mathrm{Conv}_{3\\times3}^{k} \\circ \\mathrm{ReLU} \\circ \\mathrm{BN} \\circ
          \\mathrm{Conv}_{1\\times1}^{4k} \\circ \\mathrm{ReLU} \\circ \\mathrm{BN}

so layer l has k_0 + k(l-1) input channels (growth rate k; the 1×1 "bottleneck" maps them to 4k,
DenseNet-B). Transition layers between blocks (BN → ReLU → 1×1 conv with compression θ = 0.5 → 2×2
average pool) halve the channels and the grid (DenseNet-C; both together: DenseNet-BC).

`DenseLayer` returns `[x, H(x)]` (its input with the k new maps appended), so a dense block is a plain
`nn.Sequential` and the forward pass has no Python loop over layers.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class DenseLayer(nn.Module):
    """BN-ReLU-Conv1×1(bn_size·k)-BN-ReLU-Conv3×3(k), output concatenated to the input.

    Shapes: (N, C, H, W) → (N, C + growth_rate, H, W).
    """

    def __init__(self, in_chs: int, growth_rate: int, bn_size: int = 4, drop_rate: float = 0.0):
        super().__init__()
        mid = bn_size * growth_rate
        self.norm1 = nn.BatchNorm2d(in_chs)
        self.conv1 = nn.Conv2d(in_chs, mid, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, growth_rate, 3, padding=1, bias=False)
        self.act = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(drop_rate) if drop_rate else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(self.act(self.norm1(x)))
        y = self.dropout(self.conv2(self.act(self.norm2(y))))
        return torch.cat((x, y), dim=1)


def dense_block(in_chs: int, num_layers: int, growth_rate: int, bn_size: int = 4, drop_rate: float = 0.0
                ) -> nn.Sequential:
    """`num_layers` dense layers; output width in_chs + num_layers · growth_rate."""
    return nn.Sequential(*[DenseLayer(in_chs + i * growth_rate, growth_rate, bn_size, drop_rate)
                           for i in range(num_layers)])


class Transition(nn.Sequential):
    """BN → ReLU → 1×1 conv (in → out) → 2×2 average pool, stride 2."""

    def __init__(self, in_chs: int, out_chs: int):
        super().__init__(nn.BatchNorm2d(in_chs), nn.ReLU(inplace=True), nn.Conv2d(in_chs, out_chs, 1, bias=False),
                         nn.AvgPool2d(2, stride=2))
