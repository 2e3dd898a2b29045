"""Inverted residual with linear bottleneck, "MBConv" (Sandler et al. 2018; Howard et al. 2019; Tan & Le 2019).

A thin input (the bottleneck) is expanded by a 1×1 convolution to t times the channels, filtered by a
depthwise k×k convolution, optionally gated by squeeze-and-excitation, and projected back by a *linear*
1×1 convolution; the residual connects the thin ends when stride is 1 and widths match:

.. math::
    y = x + \\mathrm{BN}\\big(W_{\\text{proj}} \\cdot \\mathrm{SE}\\big(\\delta(\\mathrm{BN}(
        \\mathrm{DW}_{k\\times k}(\\delta(\\mathrm{BN}(W_{\\text{exp}} x)))))\\big)\\big)

δ is ReLU6 (MobileNetV2), ReLU/hard-swish (MobileNetV3) or SiLU/swish (EfficientNet). With expansion 1
the expanding convolution is skipped (EfficientNet's MBConv1, MobileNetV3's first block).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from nivalis.layers.conv_bn_act import ConvBnAct
from nivalis.layers.drop import DropPath
from nivalis.layers.squeeze_excite import SqueezeExcite


class InvertedResidual(nn.Module):
    """MobileNetV2/V3 and EfficientNet block: [1×1 expand] → dw k×k → [SE] → linear 1×1 project (+ skip).

    Args:
        in_chs, out_chs: bottleneck widths.
        kernel_size: depthwise kernel (3 or 5 in the papers).
        stride: depthwise stride.
        exp_ratio: expansion t; the expanded width is `round(in_chs * exp_ratio)` unless `exp_chs` is given
            (MobileNetV3 lists absolute widths).
        act: δ of the expansion and depthwise convolutions.
        se_chs: squeezed width of an SE gate on the expanded features, 0 = none (callers compute it:
            EfficientNet uses in_chs/4, MobileNetV3 make_divisible(exp_chs/4, 8)).
        se_act, se_gate: SE activation and gate (ReLU/sigmoid; MobileNetV3 uses hard sigmoid; EfficientNet SiLU).
        drop_path: stochastic depth on the residual branch.
        residual: allow the skip connection (used when stride is 1 and in_chs == out_chs).
        downsample: how a stride of 2 is applied: "stride" (the depthwise convolution, the papers) or
            "maxpool" (depthwise at stride 1, then max-pooling; seed 003 §6.3 `mob_imp`).
        proj_act: activation of the projection; None keeps the linear bottleneck (`mob_imp` uses leaky ReLU).

    Shapes: (N, in_chs, H, W) → (N, out_chs, ⌈H/stride⌉, ⌈W/stride⌉).
    """

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int = 3, stride: int = 1, exp_ratio: float = 6.0,
                 exp_chs: int | None = None, act: str = "relu6", se_chs: int = 0, se_act: str = "relu",
                 se_gate: str = "sigmoid", drop_path: float = 0.0, residual: bool = True,
                 downsample: str = "stride", proj_act: str | None = None):
        super().__init__()
        if downsample not in ("stride", "maxpool"):
            raise ValueError(f"downsample must be 'stride' or 'maxpool', got {downsample!r}")
        pool = downsample == "maxpool" and stride > 1
        exp_chs = exp_chs or int(round(in_chs * exp_ratio))
        self.conv_pw = ConvBnAct(in_chs, exp_chs, 1, act=act) if exp_chs != in_chs else nn.Identity()
        self.conv_dw = ConvBnAct(exp_chs, exp_chs, kernel_size, stride=1 if pool else stride, groups=exp_chs, act=act)
        self.pool = nn.MaxPool2d(stride, stride, ceil_mode=True) if pool else nn.Identity()
        self.se = SqueezeExcite(exp_chs, rd_channels=se_chs, act=se_act, gate=se_gate) if se_chs else nn.Identity()
        self.conv_pwl = ConvBnAct(exp_chs, out_chs, 1, act=proj_act)
        self.has_residual = residual and stride == 1 and in_chs == out_chs
        self.drop_path = DropPath(drop_path) if (drop_path and self.has_residual) else nn.Identity()
        self.in_chs, self.out_chs, self.exp_chs = in_chs, out_chs, exp_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_pwl(self.se(self.pool(self.conv_dw(self.conv_pw(x)))))
        return x + self.drop_path(y) if self.has_residual else y
