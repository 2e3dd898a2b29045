"""RepVGG block (Ding et al. 2021; seed 001 "merged parallel kernels ... VGG-like architecture at inference").

Training uses three parallel branches whose batch-normalised outputs are summed:

.. math::
    y = \\mathrm{ReLU}\\big(\\mathrm{BN}_3(W_3 * x) + \\mathrm{BN}_1(W_1 * x) + \\mathrm{BN}_0(x)\\big)

(identity branch only when stride is 1 and widths match). In eval mode each branch is affine, so it
folds into one 3×3 convolution with bias: a batch norm with statistics μ, σ², scale γ and shift β turns
kernel W into W·γ/σ and adds β − μγ/σ; the 1×1 kernel is zero-padded to 3×3 at the centre and the
identity is the 3×3 kernel with 1 at the centre of channel i → i. `reparameterize()` does the fusion
in place and leaves `y = ReLU(W' * x + b')`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from nivalis.layers.conv_bn_act import ConvBnAct


def _fuse_bn(kernel: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    std = (bn.running_var + bn.eps).sqrt()
    scale = bn.weight / std
    return kernel * scale.reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * scale


class RepVGGBlock(nn.Module):
    """Train-time 3×3 + 1×1 + identity branches (each with BN), ReLU; fusable into one 3×3 conv.

    Shapes: (N, in_chs, H, W) → (N, out_chs, ⌈H/stride⌉, ⌈W/stride⌉).
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, groups: int = 1):
        super().__init__()
        self.in_chs, self.out_chs, self.stride, self.groups = in_chs, out_chs, stride, groups
        self.conv3x3 = ConvBnAct(in_chs, out_chs, 3, stride=stride, groups=groups, act=None)
        self.conv1x1 = ConvBnAct(in_chs, out_chs, 1, stride=stride, groups=groups, act=None, padding=0)
        self.identity = nn.BatchNorm2d(out_chs) if (stride == 1 and in_chs == out_chs) else None
        self.fused: nn.Conv2d | None = None
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused is not None:
            return self.act(self.fused(x))
        y = self.conv3x3(x) + self.conv1x1(x)
        if self.identity is not None:
            y = y + self.identity(x)
        return self.act(y)

    @torch.no_grad()
    def fused_kernel_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(W', b') of the single 3×3 convolution equal to the three branches in eval mode."""
        k3, b3 = _fuse_bn(self.conv3x3[0].weight, self.conv3x3[1])
        k1, b1 = _fuse_bn(F.pad(self.conv1x1[0].weight, [1, 1, 1, 1]), self.conv1x1[1])
        kernel, bias = k3 + k1, b3 + b1
        if self.identity is not None:
            per_group = self.in_chs // self.groups
            eye = torch.zeros_like(k3)
            index = torch.arange(self.out_chs)
            eye[index, index % per_group, 1, 1] = 1.0
            ki, bi = _fuse_bn(eye, self.identity)
            kernel, bias = kernel + ki, bias + bi
        return kernel, bias

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Replace the branches with the fused 3×3 convolution (inference form)."""
        if self.fused is not None:
            return
        kernel, bias = self.fused_kernel_bias()
        fused = nn.Conv2d(self.in_chs, self.out_chs, 3, self.stride, 1, groups=self.groups, bias=True)
        fused.weight.copy_(kernel)
        fused.bias.copy_(bias)
        self.fused = fused.to(kernel.device)
        self.conv3x3 = self.conv1x1 = self.identity = None
