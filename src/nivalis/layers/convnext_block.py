"""ConvNeXt block (Liu et al. 2022, "A ConvNet for the 2020s"; seed 001 "Convolutional networks continue to improve").

A ResNet block modernised step by step towards a Transformer block: a large depthwise convolution
(7×7 by default; kernels up to 31×31 as in RepLKNet, Ding et al. 2022), one LayerNorm instead of batch
norms, an inverted bottleneck of two pointwise (linear) layers with a single GELU, and a learnable
per-channel layer scale γ (initialised to 10⁻⁶):

.. math::
    y = x + \\mathrm{DropPath}\\Big(\\gamma \\odot W_2\\, \\mathrm{GELU}\\big(W_1\\, \\mathrm{LN}(\\mathrm{DW}_{k\\times k}(x))\\big)\\Big),
    \\qquad W_1 \\in \\mathbb{R}^{4C \\times C},\\ W_2 \\in \\mathbb{R}^{C \\times 4C}
"""

from __future__ import annotations

import torch
import torch.nn as nn

from nivalis.layers.drop import DropPath


class ConvNeXtBlock(nn.Module):
    """dw k×k → LN → Linear 4C → GELU → Linear C → ×γ → DropPath → + x.

    Args:
        dim: channels C.
        kernel_size: depthwise kernel k (7; any odd size, e.g. 31).
        mlp_ratio: expansion of the inverted bottleneck (4).
        layer_scale_init: initial γ (1e-6); 0 disables layer scale.
        drop_path: stochastic depth of the block.

    Shapes: (N, C, H, W) → (N, C, H, W).
    """

    def __init__(self, dim: int, kernel_size: int = 7, mlp_ratio: float = 4.0, layer_scale_init: float = 1e-6,
                 drop_path: float = 0.0):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        hidden = int(mlp_ratio * dim)
        self.conv_dw = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale_init)) if layer_scale_init > 0 else None
        self.drop_path = DropPath(drop_path) if drop_path else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_dw(x).permute(0, 2, 3, 1)  # NHWC: LayerNorm and Linear act on the channel axis
        y = self.fc2(self.act(self.fc1(self.norm(y))))
        if self.gamma is not None:
            y = y * self.gamma
        return x + self.drop_path(y.permute(0, 3, 1, 2))
