"""ConvNeXt (Liu et al. 2022; seed 001 "updating a ResNet ... inspired by transformers").

"Patchify" stem (4×4 convolution, stride 4, + LayerNorm) → four stages of ConvNeXt blocks with widths
(96, 192, 384, 768) for ConvNeXt-T, separated by LayerNorm + 2×2/2 convolutions → global average pool →
LayerNorm → FC. ConvNeXt-T has (3, 3, 9, 3) blocks, ConvNeXt-S (3, 3, 27, 3). The block
(`nivalis.layers.convnext_block`) is

.. math::
    y = x + \\gamma \\odot W_2\\, \\mathrm{GELU}\\big(W_1\\, \\mathrm{LN}(\\mathrm{DW}_{k\\times k}(x))\\big)

with a configurable depthwise kernel k (7 by default; large kernels such as 31 after RepLKNet).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from nivalis.layers.classifier import ClassifierHead, ClassifierMixin
from nivalis.layers.convnext_block import ConvNeXtBlock
from nivalis.layers.norm import LayerNorm2d
from nivalis.models.registry import register_model

__all__ = ["ConvNeXt"]


class ConvNeXt(ClassifierMixin, nn.Module):
    """ConvNeXt.

    Args:
        depths, dims: blocks and channels per stage.
        kernel_size: depthwise kernel of every block (7; odd, e.g. 31).
        drop_path_rate: stochastic depth, linear from 0 to this value over the blocks (0.1 for T in the paper).
        layer_scale_init: initial layer scale γ (1e-6).

    Shapes: (N, in_chans, H, W) → (N, num_classes); any H, W ≥ 32.

    The LayerNorm between the global pool and the classifier stays a module of its own (`norm`), so the
    state-dict names do not change; the `ClassifierHead` after it only applies dropout and the linear layer.
    """

    classifier_name = "head"

    def __init__(self, depths: Sequence[int] = (3, 3, 9, 3), dims: Sequence[int] = (96, 192, 384, 768),
                 num_classes: int = 1000, in_chans: int = 3, kernel_size: int = 7, drop_path_rate: float = 0.0,
                 layer_scale_init: float = 1e-6, drop_rate: float = 0.0):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_chans, dims[0], 4, stride=4), LayerNorm2d(dims[0]))
        total = sum(depths)
        rates = [drop_path_rate * i / max(1, total - 1) for i in range(total)]
        stages, index = [], 0
        for i, (depth, dim) in enumerate(zip(depths, dims)):
            down = (nn.Sequential(LayerNorm2d(dims[i - 1]), nn.Conv2d(dims[i - 1], dim, 2, stride=2))
                    if i > 0 else nn.Identity())
            blocks = [ConvNeXtBlock(dim, kernel_size, layer_scale_init=layer_scale_init, drop_path=rates[index + j])
                      for j in range(depth)]
            stages.append(nn.Sequential(down, *blocks))
            index += depth
        self.stages = nn.Sequential(*stages)
        self.num_features = dims[-1]
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = ClassifierHead(dims[-1], num_classes, pool="", drop_rate=drop_rate)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear, ClassifierHead)) and m.weight is not None:
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.norm(self.pool(x).flatten(1))
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_model
def convnext_tiny(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> ConvNeXt:
    return ConvNeXt((3, 3, 9, 3), (96, 192, 384, 768), num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def convnext_small(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> ConvNeXt:
    return ConvNeXt((3, 3, 27, 3), (96, 192, 384, 768), num_classes=num_classes, in_chans=in_chans, **kwargs)
