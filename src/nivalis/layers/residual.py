"""Residual blocks (He et al. 2016, seed 001 "ResNets"): the block learns F(x) and adds the input back.

.. math::
    y = \\mathrm{ReLU}\\big(\\mathcal{F}(x, \\{W_i\\}) + W_s x\\big)

`W_s` is the identity, or a 1×1 convolution + batch norm when the shape changes. `BasicBlock` stacks two
3×3 convolutions (ResNet-18/34); `Bottleneck` is 1×1 reduce → 3×3 → 1×1 expand ×4 (ResNet-50+), with the
stride on the 3×3 ("ResNet v1.5", the torchvision/timm layout). The 3×3 is grouped for ResNeXt
(Xie et al. 2017, cardinality `groups`, `base_width` per group) and wider for Wide ResNets
(Zagoruyko & Komodakis 2016); an optional squeeze-and-excitation gate (Hu et al. 2018) rescales the
residual branch before the addition (SE-ResNet).

Each block builds its 3×3 convolutions (`conv1`/`conv2` in `BasicBlock`, `conv2` in `Bottleneck`) through
one factory, `conv3x3(in_chs, out_chs, stride=, groups=, act=)`, so that a search over operators can
swap exactly those slots.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from nivalis.layers.conv_bn_act import ConvBnAct, make_activation
from nivalis.layers.drop import DropPath
from nivalis.layers.squeeze_excite import SqueezeExcite

ConvFactory = Callable[..., nn.Module]


def conv3x3_bn(in_chs: int, out_chs: int, *, stride: int = 1, groups: int = 1, act: str | None = "relu") -> nn.Module:
    """The default 3×3 slot: conv 3×3 (no bias) → batch norm → act."""
    return ConvBnAct(in_chs, out_chs, 3, stride=stride, groups=groups, act=act)


def output_norms(unit: nn.Module) -> list[nn.BatchNorm2d]:
    """The BN layer(s) that normalise a slot unit's output (zeroed by `zero_init_last`).

    A unit built by a `conv3x3` factory names them with an `output_norms()` method, or is a conv → BN
    (→ act) sequence whose second module is the BN.
    """
    if hasattr(unit, "output_norms"):
        return list(unit.output_norms())
    if isinstance(unit, nn.Sequential) and len(unit) > 1 and isinstance(unit[1], nn.BatchNorm2d):
        return [unit[1]]
    return []


def downsample_shortcut(in_chs: int, out_chs: int, stride: int) -> nn.Module:
    """`W_s` of the paper's option B: 1×1 strided projection + BN when the shape changes, else identity."""
    if stride == 1 and in_chs == out_chs:
        return nn.Identity()
    return ConvBnAct(in_chs, out_chs, 1, stride=stride, act=None)


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with an identity/projection shortcut (ResNet-18/34).

    Args:
        in_chs: input channels.
        planes: output channels of both convolutions.
        stride: stride of the first 3×3 (2 at the start of stages 2-4).
        se_ratio: squeeze ratio of an SE gate on the branch; 0 disables it.
        conv3x3: factory for the 3×3 slots (see module docstring).
        drop_path: stochastic-depth probability of the residual branch.
    """

    expansion = 1

    def __init__(self, in_chs: int, planes: int, stride: int = 1, groups: int = 1, base_width: int = 64,
                 se_ratio: float = 0.0, act: str = "relu", conv3x3: ConvFactory | None = None,
                 drop_path: float = 0.0):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock supports only groups=1 and base_width=64")
        conv3x3 = conv3x3 or conv3x3_bn
        out_chs = planes * self.expansion
        self.conv1 = conv3x3(in_chs, planes, stride=stride, groups=1, act=act)
        self.conv2 = conv3x3(planes, out_chs, stride=1, groups=1, act=None)
        self.se = SqueezeExcite(out_chs, rd_ratio=se_ratio) if se_ratio else nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path else nn.Identity()
        self.shortcut = downsample_shortcut(in_chs, out_chs, stride)
        self.act = make_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.se(self.conv2(self.conv1(x)))
        return self.act(self.drop_path(y) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1×1 reduce → 3×3 (stride, groups) → 1×1 expand (×4), shortcut, ReLU (ResNet-50/101/152, ResNeXt, WRN).

    The 3×3 width is `int(planes * base_width / 64) * groups`: `planes` for ResNet, 2·planes for
    ResNeXt-50 32×4d (32 groups of 4) and Wide ResNet-50-2 (base width 128).
    """

    expansion = 4

    def __init__(self, in_chs: int, planes: int, stride: int = 1, groups: int = 1, base_width: int = 64,
                 se_ratio: float = 0.0, act: str = "relu", conv3x3: ConvFactory | None = None,
                 drop_path: float = 0.0):
        super().__init__()
        conv3x3 = conv3x3 or conv3x3_bn
        width = int(planes * base_width / 64) * groups
        out_chs = planes * self.expansion
        self.conv1 = ConvBnAct(in_chs, width, 1, act=act)
        self.conv2 = conv3x3(width, width, stride=stride, groups=groups, act=act)
        self.conv3 = ConvBnAct(width, out_chs, 1, act=None)
        self.se = SqueezeExcite(out_chs, rd_ratio=se_ratio) if se_ratio else nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path else nn.Identity()
        self.shortcut = downsample_shortcut(in_chs, out_chs, stride)
        self.act = make_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.se(self.conv3(self.conv2(self.conv1(x))))
        return self.act(self.drop_path(y) + self.shortcut(x))
