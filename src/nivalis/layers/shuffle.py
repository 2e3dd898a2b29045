"""Channel shuffle and the ShuffleNet units (Zhang et al. 2018 "ShuffleNet"; Ma et al. 2018 "ShuffleNet V2").

Grouped 1×1 convolutions are cheap but keep each group's information inside the group. A channel
shuffle with g groups interleaves them, so the next grouped convolution sees every group:

.. math::
    \\mathrm{shuffle}_g(X)_{c} = X_{(c \\bmod g)\\cdot (C/g) + \\lfloor c/g \\rfloor}

i.e. reshape C → (g, C/g), transpose to (C/g, g), flatten.

* `ShuffleV1Unit`: grouped 1×1 (bottleneck = out/4) → BN → ReLU → shuffle → depthwise 3×3 (stride) → BN →
  grouped 1×1 → BN; added to the input (stride 1) or concatenated with a 3×3/2 average-pooled input
  (stride 2), then ReLU.
* `ShuffleV2Unit`: stride 1 splits the channels in half, one half passes untouched, the other goes
  1×1 → dw 3×3 → 1×1; stride 2 runs both halves of the input through a branch. The halves are
  concatenated and shuffled with g = 2.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from nivalis.layers.conv_bn_act import ConvBnAct, make_activation


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave `groups` channel groups of an (N, C, H, W) tensor (C divisible by `groups`)."""
    return x.unflatten(1, (groups, -1)).transpose(1, 2).flatten(1, 2)


class ChannelShuffle(nn.Module):
    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class ShuffleV1Unit(nn.Module):
    """ShuffleNet (v1) unit, Fig. 2(b) stride 1 / 2(c) stride 2.

    Args:
        in_chs, out_chs: unit widths; with stride 2 the branch produces `out_chs - in_chs` channels that
            are concatenated with the pooled input.
        groups: g of the grouped 1×1 convolutions and of the shuffle.
        stride: 1 or 2.
        group_first: group the first 1×1 (the paper does not group it in the very first unit, whose
            input has only 24 channels).
        bottleneck_ratio: bottleneck width as a fraction of `out_chs` (1/4 in the paper).
        shortcut: add / concatenate the input. False gives the plain gconv → shuffle → dw → gconv → act
            chain that replaces a 3×3 convolution in the EffNet comparison (seed 003 Table 1), where
            the branch produces all `out_chs` channels and in_chs may differ from out_chs.
    """

    def __init__(self, in_chs: int, out_chs: int, groups: int = 3, stride: int = 1, group_first: bool = True,
                 bottleneck_ratio: float = 0.25, act: str = "relu", shortcut: bool = True):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if shortcut and stride == 1 and in_chs != out_chs:
            raise ValueError("a stride-1 ShuffleNet unit needs in_chs == out_chs")
        branch_out = out_chs - in_chs if (stride == 2 and shortcut) else out_chs
        mid = int(out_chs * bottleneck_ratio)
        mid -= mid % groups  # the grouped convolutions need a width divisible by g
        g1 = groups if group_first else 1
        self.stride, self.shortcut = stride, shortcut
        self.conv1 = ConvBnAct(in_chs, mid, 1, groups=g1, act=act)
        self.shuffle = ChannelShuffle(groups) if g1 > 1 else nn.Identity()
        self.conv_dw = ConvBnAct(mid, mid, 3, stride=stride, groups=mid, act=None)
        self.conv3 = ConvBnAct(mid, branch_out, 1, groups=groups, act=None)
        self.pool = nn.AvgPool2d(3, stride=2, padding=1) if (stride == 2 and shortcut) else nn.Identity()
        self.act = make_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv3(self.conv_dw(self.shuffle(self.conv1(x))))
        if not self.shortcut:
            return self.act(y)
        if self.stride == 1:
            return self.act(x + y)
        return self.act(torch.cat((self.pool(x), y), dim=1))


class ShuffleV2Unit(nn.Module):
    """ShuffleNet V2 unit, Fig. 3(c) stride 1 (channel split) / 3(d) stride 2 (spatial down-sampling).

    Args:
        in_chs, out_chs: unit widths (`out_chs` even; each branch gives half).
        stride: 1 (requires in_chs == out_chs) or 2.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, act: str = "relu"):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if out_chs % 2:
            raise ValueError(f"out_chs must be even, got {out_chs}")
        if stride == 1 and in_chs != out_chs:
            raise ValueError("a stride-1 ShuffleNet V2 unit needs in_chs == out_chs")
        half = out_chs // 2
        self.stride = stride
        if stride == 2:
            self.branch1 = nn.Sequential(ConvBnAct(in_chs, in_chs, 3, stride=2, groups=in_chs, act=None),
                                         ConvBnAct(in_chs, half, 1, act=act))
        else:
            self.branch1 = nn.Identity()
        branch2_in = in_chs if stride == 2 else half
        self.branch2 = nn.Sequential(ConvBnAct(branch2_in, half, 1, act=act),
                                     ConvBnAct(half, half, 3, stride=stride, groups=half, act=None),
                                     ConvBnAct(half, half, 1, act=act))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            a, b = x.chunk(2, dim=1)
            y = torch.cat((a, self.branch2(b)), dim=1)
        else:
            y = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(y, 2)
