"""ShuffleNet v1 (Zhang et al. 2018) and v2 (Ma et al. 2018): grouped/split 1×1 convolutions + channel shuffle.

Both: stem 3×3/2 conv (24) → 3×3/2 max-pool → three stages of units (4, 8, 4 units; the first unit of a
stage has stride 2) → global pooling → fully connected. V1 (Table 1) widths depend on the group count g
(g = 3: 240, 480, 960) and are multiplied by a scale s (`width_mult`); V2 (Table 5) adds a 1×1 convolution to 1024
(2048 at 2×) before pooling. Units and the shuffle live in `nivalis.layers.shuffle`:

.. math::
    \\mathrm{shuffle}_g(X)_{c} = X_{(c \\bmod g)\\cdot (C/g) + \\lfloor c/g \\rfloor}
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from nivalis.layers.classifier import ClassifierHead, ClassifierMixin
from nivalis.layers.conv_bn_act import ConvBnAct
from nivalis.layers.shuffle import ShuffleV1Unit, ShuffleV2Unit
from nivalis.models.configs import IMAGENET_CFG, torchvision_cfg
from nivalis.models.registry import register_model
from nivalis.models.weights import PublishedWeights, rule_map

__all__ = ["ShuffleNetV1", "ShuffleNetV2"]

# ShuffleNet v1 Table 1: stage output widths for each group count g (scale 1×).
V1_WIDTHS = {1: (144, 288, 576), 2: (200, 400, 800), 3: (240, 480, 960), 4: (272, 544, 1088), 8: (384, 768, 1536)}
# ShuffleNet v2 Table 5: stage widths and the final 1×1 width per complexity.
V2_WIDTHS = {0.5: (48, 96, 192, 1024), 1.0: (116, 232, 464, 1024), 1.5: (176, 352, 704, 1024),
             2.0: (244, 488, 976, 2048)}
REPEATS = (4, 8, 4)


def _stem(in_chans: int, stem: str) -> nn.Module:
    if stem == "imagenet":
        return nn.Sequential(ConvBnAct(in_chans, 24, 3, stride=2), nn.MaxPool2d(3, stride=2, padding=1))
    if stem == "cifar":
        return ConvBnAct(in_chans, 24, 3, stride=1)
    raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")


class ShuffleNetV1(ClassifierMixin, nn.Module):
    """ShuffleNet (v1) with g groups and scale factor s = `width_mult` ("ShuffleNet s× (g = ...)").

    Shapes: (N, in_chans, H, W) → (N, num_classes); H, W ≥ 32 with the ImageNet stem.
    """

    classifier_name = "fc"

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, groups: int = 3, width_mult: float = 1.0,
                 stem: str = "imagenet", repeats: Sequence[int] = REPEATS, drop_rate: float = 0.0):
        super().__init__()
        if groups not in V1_WIDTHS:
            raise ValueError(f"groups must be one of {sorted(V1_WIDTHS)}, got {groups}")
        self.stem = _stem(in_chans, stem)
        ch, stages = 24, []
        for stage, (width, n) in enumerate(zip(V1_WIDTHS[groups], repeats)):
            # Widths must split into g groups and leave a bottleneck (width/4) divisible by g.
            out = int(round(width * width_mult / (4 * groups))) * 4 * groups
            units = [ShuffleV1Unit(ch, out, groups=groups, stride=2, group_first=stage > 0)]
            units += [ShuffleV1Unit(out, out, groups=groups, stride=1) for _ in range(n - 1)]
            stages.append(nn.Sequential(*units))
            ch = out
        self.stages = nn.Sequential(*stages)
        self.num_features = ch
        self.fc = ClassifierHead(ch, num_classes, drop_rate=drop_rate)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


class ShuffleNetV2(ClassifierMixin, nn.Module):
    """ShuffleNet V2 at complexity `width_mult` = 0.5, 1, 1.5 or 2 (Table 5 lists each; no other value)."""

    classifier_name = "fc"

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, width_mult: float = 1.0, stem: str = "imagenet",
                 repeats: Sequence[int] = REPEATS, drop_rate: float = 0.0):
        super().__init__()
        if width_mult not in V2_WIDTHS:
            raise ValueError(f"width_mult must be one of {sorted(V2_WIDTHS)}, got {width_mult}")
        *widths, last = V2_WIDTHS[width_mult]
        self.stem = _stem(in_chans, stem)
        ch, stages = 24, []
        for out, n in zip(widths, repeats):
            stages.append(nn.Sequential(ShuffleV2Unit(ch, out, stride=2),
                                        *[ShuffleV2Unit(out, out, stride=1) for _ in range(n - 1)]))
            ch = out
        self.stages = nn.Sequential(*stages)
        self.head = ConvBnAct(ch, last, 1)
        self.num_features = last
        self.fc = ClassifierHead(last, num_classes, drop_rate=drop_rate)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


@register_model
def shufflenet_v1_g3(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> ShuffleNetV1:
    """ShuffleNet 1× (g = 3), the paper's main configuration."""
    return ShuffleNetV1(num_classes=num_classes, in_chans=in_chans, groups=3, **kwargs)


@register_model
def shufflenet_v1_g8(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(num_classes=num_classes, in_chans=in_chans, groups=8, **kwargs)


@register_model
def shufflenet_v2_x0_5(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> ShuffleNetV2:
    return ShuffleNetV2(num_classes=num_classes, in_chans=in_chans, width_mult=0.5, **kwargs)


@register_model
def shufflenet_v2_x1_0(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> ShuffleNetV2:
    return ShuffleNetV2(num_classes=num_classes, in_chans=in_chans, width_mult=1.0, **kwargs)


@register_model
def shufflenet_v2_x2_0(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> ShuffleNetV2:
    return ShuffleNetV2(num_classes=num_classes, in_chans=in_chans, width_mult=2.0, **kwargs)


default_cfgs = {
    "shufflenet_v1_g3": IMAGENET_CFG,
    "shufflenet_v1_g8": IMAGENET_CFG,
    "shufflenet_v2_x0_5": torchvision_cfg("shufflenet_v2_x0_5", "shufflenetv2_x0.5-f707e7126e.pth"),
    "shufflenet_v2_x1_0": torchvision_cfg("shufflenet_v2_x1_0", "shufflenetv2_x1-5666bf0f80.pth"),
    "shufflenet_v2_x2_0": torchvision_cfg("shufflenet_v2_x2_0", "shufflenetv2_x2_0-8be3c8ee.pth"),
}

# torchvision's `shufflenet_v2_x*`: `conv1.0|1` (stem conv, BN), `stage2|3|4.u` units with `branch1` = dw conv
# `.0`, BN `.1`, 1×1 conv `.2`, BN `.3` (strided units only) and `branch2` = 1×1 conv `.0`, BN `.1`, dw conv `.3`,
# BN `.4`, 1×1 conv `.5`, BN `.6`; `conv5.0|1`; `fc`. nivalis: `stem.0` (a ConvBnAct: `.0` conv, `.1` BN),
# `stages.s.u.branch1.i` and `branch2.i` as ConvBnAct units (`.0` conv, `.1` BN), `head`, `fc`.
_BRANCH2_UNIT = (0, 3, 5)  # torchvision's index of each conv in branch2 (ReLUs sit between)


def _torchvision_unit(m) -> str:
    stage, unit, branch, i, k, leaf = int(m[1]), m[2], m[3], int(m[4]), int(m[5]), m[6]
    first = 2 * i if branch == "1" else _BRANCH2_UNIT[i]
    return f"stage{stage + 2}.{unit}.branch{branch}.{first + k}.{leaf}"


_TO_TORCHVISION = (
    (r"stem\.0\.(\d)\.(\w+)", r"conv1.\1.\2"),
    (r"head\.(\d)\.(\w+)", r"conv5.\1.\2"),
    (r"stages\.(\d)\.(\d+)\.branch([12])\.(\d)\.(\d)\.(\w+)", _torchvision_unit),
)

published_weights = {ShuffleNetV2: PublishedWeights({"torchvision": (rule_map(_TO_TORCHVISION), {})})}
