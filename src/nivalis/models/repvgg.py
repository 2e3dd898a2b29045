"""RepVGG (Ding et al. 2021; seed 001 "a branched architecture ... merged ... at inference time").

Five stages of `RepVGGBlock`s (3×3 + 1×1 + identity branches while training, one 3×3 convolution + ReLU
after `reparameterize()`), the first block of each stage with stride 2, then global pooling and FC.
Stage widths are min(64, 64a), 64a, 128a, 256a, 512b; RepVGG-A has (1, 2, 4, 14, 1) layers per stage
(paper Table 2), A0 uses a = 0.75, b = 2.5. The branch fusion

.. math::
    W' = \\sum_{\\text{branch}} \\frac{\\gamma}{\\sigma} W_{\\text{branch}}^{3\\times3}, \\qquad
    b' = \\sum_{\\text{branch}} \\Big(\\beta - \\frac{\\mu\\gamma}{\\sigma}\\Big)

is in `nivalis.layers.repvgg_block`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
import torch.nn as nn

from nivalis.layers.classifier import ClassifierHead, ClassifierMixin
from nivalis.layers.repvgg_block import RepVGGBlock
from nivalis.models.configs import IMAGENET_CFG
from nivalis.models.registry import register_model
from nivalis.models.weights import PublishedWeights

__all__ = ["RepVGG"]


class RepVGG(ClassifierMixin, nn.Module):
    """RepVGG with per-stage depths and width multipliers (a for stages 1-3, b for the last).

    Shapes: (N, in_chans, H, W) → (N, num_classes); any H, W ≥ 32.
    """

    classifier_name = "fc"

    def __init__(self, num_blocks: Sequence[int] = (2, 4, 14, 1), width_mult: tuple[float, float] = (0.75, 2.5),
                 num_classes: int = 1000, in_chans: int = 3, stem: str = "imagenet"):
        super().__init__()
        a, b = width_mult
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        ch = min(64, int(64 * a))
        # The CIFAR stem keeps 32×32 inputs at full resolution into stage 1 (stride 1 instead of 2).
        self.stage0 = RepVGGBlock(in_chans, ch, stride=2 if stem == "imagenet" else 1)
        stages = []
        for n, width in zip(num_blocks, (int(64 * a), int(128 * a), int(256 * a), int(512 * b))):
            blocks = [RepVGGBlock(ch, width, stride=2)] + [RepVGGBlock(width, width) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            ch = width
        self.stage1, self.stage2, self.stage3, self.stage4 = stages
        self.num_features = ch
        self.fc = ClassifierHead(ch, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage4(self.stage3(self.stage2(self.stage1(self.stage0(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))

    def reparameterize(self) -> RepVGG:
        """Fuse every block into a single 3×3 convolution (in place; uses the BN running statistics)."""
        for m in self.modules():
            if isinstance(m, RepVGGBlock):
                m.reparameterize()
        return self


@register_model
def repvgg_a0(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> RepVGG:
    return RepVGG((2, 4, 14, 1), (0.75, 2.5), num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def repvgg_a1(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> RepVGG:
    return RepVGG((2, 4, 14, 1), (1.0, 2.5), num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def repvgg_b0(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> RepVGG:
    return RepVGG((4, 6, 16, 1), (1.0, 2.5), num_classes=num_classes, in_chans=in_chans, **kwargs)


default_cfgs = {name: replace(IMAGENET_CFG, weights=f"timm:{name}") for name in ("repvgg_a0", "repvgg_a1", "repvgg_b0")}

# timm's `repvgg_*` (a ByobNet): `stem` is one RepVggBlock, `stages.s.j` the blocks of stage s + 1; each block
# holds `conv_kxk` and `conv_1x1` (ConvNormAct: `.conv`, `.bn`) and, where stride is 1 and widths match,
# `identity` (a BN); no final convolution; `head.fc`. nivalis: `stage0`, `stage1..4.j` with `conv3x3`,
# `conv1x1` (`.0` conv, `.1` BN) and `identity`, `fc`. (timm registers `identity` first: in its files' order
# it precedes the two convolutions.)
_TO_TIMM = (
    (r"^stage0\.", "stem."),
    (r"^stage([1-4])\.", lambda m: f"stages.{int(m[1]) - 1}."),
    (r"^fc\.", "head.fc."),
    (r"\.conv3x3\.", ".conv_kxk."),
    (r"\.conv1x1\.", ".conv_1x1."),
    (r"\.(conv_kxk|conv_1x1)\.0\.weight$", r".\1.conv.weight"),
    (r"\.(conv_kxk|conv_1x1)\.1\.", r".\1.bn."),
)

published_weights = {RepVGG: PublishedWeights({"timm": (_TO_TIMM, {})})}
