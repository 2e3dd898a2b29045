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
from nivalis.models.configs import torchvision_cfg
from nivalis.models.registry import register_model
from nivalis.models.weights import PublishedWeights, rule_map

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


default_cfgs = {
    "convnext_tiny": torchvision_cfg("convnext_tiny", "convnext_tiny-983f1562.pth", "head"),
    "convnext_small": torchvision_cfg("convnext_small", "convnext_small-0c510722.pth", "head"),
}

# torchvision: `features.0` stem (`.0` 4×4 conv, `.1` LayerNorm2d); `features.2s+1.j.block` for stage s, block
# j: `.0` depthwise conv, `.2` LayerNorm, `.3` / `.5` the two linear layers, and `layer_scale` of shape (C, 1, 1);
# `features.2s` (s ≥ 1) the downsampling (`.0` LayerNorm2d, `.1` 2×2 conv); `classifier.0` LayerNorm2d,
# `classifier.2` linear. timm: `stem.0|1`, `stages.s.downsample.0|1`, `stages.s.blocks.j.conv_dw|norm|mlp.fc1|
# mlp.fc2|gamma` (shape (C,)), `head.norm`, `head.fc`. nivalis: `stem.0|1`, `stages.s.0` the downsampling
# (Identity in stage 0), `stages.s.(j+1).conv_dw|norm|fc1|fc2|gamma`, `norm`, `head`.
_TV_BLOCK = {"conv_dw": "block.0", "norm": "block.2", "fc1": "block.3", "fc2": "block.5"}
_TO_TORCHVISION = (
    (r"stem\.(\d)\.(\w+)", r"features.0.\1.\2"),
    (r"norm\.(\w+)", r"classifier.0.\1"),
    (r"head\.(\w+)", r"classifier.2.\1"),
    (r"stages\.(\d)\.0\.(\d)\.(\w+)", lambda m: f"features.{2 * int(m[1])}.{m[2]}.{m[3]}"),
    (r"stages\.(\d)\.(\d+)\.gamma", lambda m: f"features.{2 * int(m[1]) + 1}.{int(m[2]) - 1}.layer_scale"),
    (r"stages\.(\d)\.(\d+)\.(conv_dw|norm|fc1|fc2)\.(\w+)",
     lambda m: f"features.{2 * int(m[1]) + 1}.{int(m[2]) - 1}.{_TV_BLOCK[m[3]]}.{m[4]}"),
)
_TO_TIMM = (
    (r"stages\.(\d)\.0\.(\d)\.(\w+)", r"stages.\1.downsample.\2.\3"),
    (r"stages\.(\d)\.(\d+)\.(fc1|fc2)\.(\w+)", lambda m: f"stages.{m[1]}.blocks.{int(m[2]) - 1}.mlp.{m[3]}.{m[4]}"),
    (r"stages\.(\d)\.(\d+)\.(.+)", lambda m: f"stages.{m[1]}.blocks.{int(m[2]) - 1}.{m[3]}"),
    (r"norm\.(\w+)", r"head.norm.\1"),
    (r"head\.(\w+)", r"head.fc.\1"),
)

# layer scale: torchvision stores γ as (C, 1, 1), nivalis and timm as (C,)
published_weights = {ConvNeXt: PublishedWeights({"torchvision": (rule_map(_TO_TORCHVISION), {}),
                                                 "timm": (rule_map(_TO_TIMM), {})}, reshape=(r"\.gamma$",))}
