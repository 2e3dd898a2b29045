"""Build one efficient block by name: the building-block factory of seed 003's networks (EffNet, Freeman et al.).

`make_block(spec, in_chs, out_chs, downsample=...)` builds one block that maps (N, in_chs, H, W) to
(N, out_chs, H/2, W/2) or (N, out_chs, H, W); `models/effnet.py` (SlimNet) builds its networks from it and
`nivalis.models.block_swap.swap_conv3x3` puts such blocks into the 3×3 slots of a built network (seed 003 §5).
Block names (`spec`):

========================  ===================================================================
`conv`                    3×3 conv → BN → ReLU (+ 2×2 max-pool when downsampling): the baseline
`effnet`                  `EffNetBlock` (seed 003 §4.2)
`effnet_v2[_eT]`          `EffNetV2Block`, expansion T (default 6; §6.2)
`mobilenet`               `DepthwiseSeparableConv`, dw 3×3 stride 2 + 1×1 (Howard et al. 2017)
`shufflenet`              `ShuffleV1Unit` without shortcut, 4 groups (Zhang et al. 2018, as in seed Table 1)
`mobilenetv2[_eT]`        `InvertedResidual`, expansion T, stride-2 depthwise, linear projection
`mob_imp[_eT]`            MobileNetV2 with 2×2 max-pooling instead of the stride and a leaky ReLU
                          instead of the linear bottleneck (seed §6.3)
========================  ===================================================================

`BlockSpec.keeps_first_layer`: only the EffNet block (and the plain conv) replaces a network's first
layer (§3 "Addressing the first layer"); MobileNet, ShuffleNet and MobileNetV2 keep it vanilla, as their
papers and the seed's Tables 1 and 5-7 do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch.nn as nn

from nivalis.layers.conv_bn_act import ConvBnAct
from nivalis.layers.effnet_block import EffNetBlock, EffNetV2Block

BLOCK_KINDS = ("conv", "effnet", "effnet_v2", "mobilenet", "shufflenet", "mobilenetv2", "mob_imp")
_EXPANDING = ("effnet_v2", "mobilenetv2", "mob_imp")


@dataclass(frozen=True)
class BlockSpec:
    kind: str
    expansion: float = 6.0

    @property
    def keeps_first_layer(self) -> bool:
        return self.kind not in ("effnet", "conv")


def parse_block(spec: str | BlockSpec) -> BlockSpec:
    """'mobilenetv2_e4' → BlockSpec('mobilenetv2', 4.0); ValueError names the known blocks."""
    if isinstance(spec, BlockSpec):
        return spec
    match = re.fullmatch(r"([a-z0-9_]+?)(?:_e(\d+(?:\.\d+)?))?", spec.strip().lower())
    if match and match.group(1) in BLOCK_KINDS and (match.group(2) is None or match.group(1) in _EXPANDING):
        return BlockSpec(match.group(1), float(match.group(2)) if match.group(2) else 6.0)
    raise ValueError(f"unknown block {spec!r} (one of: {', '.join(BLOCK_KINDS)}; "
                     f"{', '.join(_EXPANDING)} take an expansion suffix such as _e4)")


def _shuffle_groups(in_chs: int, out_chs: int, wanted: int = 4) -> int:
    """The largest g ≤ `wanted` that divides both widths and leaves a bottleneck (out/4) of at least g."""
    for g in range(wanted, 0, -1):
        if in_chs % g == 0 and out_chs % g == 0 and out_chs // 4 >= g:
            return g
    return 1


def make_block(spec: str | BlockSpec, in_chs: int, out_chs: int, *, downsample: bool = True,
               ceil_mode: bool = False) -> nn.Module:
    """One block that maps (N, in_chs, H, W) to (N, out_chs, H/2, W/2) (`downsample`) or (N, out_chs, H, W)."""
    from nivalis.layers.depthwise_separable import DepthwiseSeparableConv
    from nivalis.layers.inverted_residual import InvertedResidual
    from nivalis.layers.shuffle import ShuffleV1Unit

    spec = parse_block(spec)
    stride = 2 if downsample else 1
    if spec.kind == "conv":
        conv = ConvBnAct(in_chs, out_chs, 3)
        return nn.Sequential(conv, nn.MaxPool2d(2, 2, ceil_mode=ceil_mode)) if downsample else conv
    if spec.kind == "effnet":
        return EffNetBlock(in_chs, out_chs, downsample=downsample, ceil_mode=ceil_mode)
    if spec.kind == "effnet_v2":
        return EffNetV2Block(in_chs, out_chs, expansion=spec.expansion, downsample=downsample, ceil_mode=ceil_mode)
    if spec.kind == "mobilenet":
        return DepthwiseSeparableConv(in_chs, out_chs, 3, stride=stride)
    if spec.kind == "shufflenet":
        return ShuffleV1Unit(in_chs, out_chs, groups=_shuffle_groups(in_chs, out_chs), stride=stride, shortcut=False)
    if spec.kind == "mobilenetv2":
        return InvertedResidual(in_chs, out_chs, 3, stride=stride, exp_ratio=spec.expansion)
    if spec.kind == "mob_imp":
        return InvertedResidual(in_chs, out_chs, 3, stride=stride, exp_ratio=spec.expansion,
                                downsample="maxpool", proj_act="leaky_relu")
    raise AssertionError(spec)


__all__ = ["BLOCK_KINDS", "BlockSpec", "make_block", "parse_block"]
