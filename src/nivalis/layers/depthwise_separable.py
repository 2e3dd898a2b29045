"""Depthwise-separable convolution (Howard et al. 2017, seed 001 "MobileNet V1").

A standard k×k convolution from M to N channels (M·N·k² weights, M·N·k²·D_F² multiply-adds) is
factorised into a depthwise k×k convolution, one filter per input channel (M·k² weights), followed by a
pointwise 1×1 convolution that mixes channels (M·N weights):

.. math::
    \\hat G_{m,i,j} = \\sum_{u,v} \\hat K_{m,u,v}\\, F_{m,i+u,j+v}, \\qquad
    G_{n,i,j} = \\sum_m P_{m,n}\\, \\hat G_{m,i,j}

Cost ratio to the full convolution: 1/N + 1/k² (≈ 1/9 for 3×3). Each of the two convolutions is
followed by batch norm and an activation, as in MobileNet V1 Fig. 3.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from nivalis.layers.conv_bn_act import ConvBnAct
from nivalis.layers.squeeze_excite import SqueezeExcite

_SAME = object()


class DepthwiseSeparableConv(nn.Module):
    """dw k×k (stride) → BN → act → [SE] → pw 1×1 → BN → pw_act.

    Args:
        in_chs, out_chs: M and N.
        kernel_size: k of the depthwise filter.
        stride: stride of the depthwise filter (the pointwise one is always 1).
        act: activation after the depthwise convolution.
        pw_act: activation after the pointwise convolution; defaults to `act`, None gives a linear
            output (MobileNetV2-style bottleneck).
        se_ratio: squeeze-and-excitation on the depthwise output, reduction relative to `in_chs`; 0 = none.
        residual: add the input when stride is 1 and channels match.

    Shapes: (N, in_chs, H, W) → (N, out_chs, ⌈H/stride⌉, ⌈W/stride⌉).
    """

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int = 3, stride: int = 1, act: str | None = "relu",
                 pw_act: str | None | object = _SAME, se_ratio: float = 0.0, residual: bool = False,
                 dilation: int = 1):
        super().__init__()
        pw_act = act if pw_act is _SAME else pw_act
        self.conv_dw = ConvBnAct(in_chs, in_chs, kernel_size, stride=stride, groups=in_chs, act=act, dilation=dilation)
        self.se = SqueezeExcite(in_chs, rd_ratio=se_ratio, act=act or "relu") if se_ratio else nn.Identity()
        self.conv_pw = ConvBnAct(in_chs, out_chs, 1, act=pw_act)
        self.has_residual = residual and stride == 1 and in_chs == out_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_pw(self.se(self.conv_dw(x)))
        return y + x if self.has_residual else y
