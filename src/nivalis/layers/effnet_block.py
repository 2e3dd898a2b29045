r"""EffNet blocks (Freeman, Roese-Koerner & Kummert 2018, seed 003 §4.2 and §6.2, Fig. 1c/1d).

An EffNet block replaces a vanilla 3×3 convolution (+ 2×2 max-pooling) of a slim network. It splits
the 3×3 depthwise filter into 1×3 and 3×1 filters (Szegedy et al.) and the 2×2 subsampling into two
one-dimensional steps ("separable pooling"), so the data is never compressed by 4 in one layer.

**v1** (§4.2, Table 1), input :math:`x` with :math:`C_{in}` channels, output :math:`C_{out}`:

.. math::
    C_{mid} &= \max(\lfloor C_{out}/2 \rfloor, 6) \\
    h_1 &= \delta(\mathrm{BN}(W_{1\times1}\, x)) && C_{in} \to C_{mid} \\
    h_2 &= \mathrm{MaxPool}_{1\times2}(\mathrm{BN}(\mathrm{DW}_{1\times3}\, h_1)) && C_{mid} \to d\,C_{mid},\ W/2 \\
    h_3 &= \mathrm{BN}(\mathrm{DW}_{3\times1}\, h_2) \\
    y &= \delta(\mathrm{BN}(W_{2\times1,\ \mathrm{stride}\ (2,1)}\, h_3)) && d\,C_{mid} \to C_{out},\ H/2

with :math:`\delta` = ReLU, linear depthwise filters (§6.2 leaves them linear) and depth multiplier
:math:`d = 1` (Table 1's floats; the seed raises it to 2 "in some cases", §3 and §6.2).

**v2** (§6.2): the first pointwise width depends on the *input* and an expansion rate :math:`t`,
the depth multiplier is always 2, the second pooling follows the second spatial filter and the
last activation is a leaky ReLU:

.. math::
    C_{mid} &= \lfloor C_{in}\, t / 2 \rfloor \\
    h_1 &= \mathrm{ReLU}(\mathrm{BN}(W_{1\times1}\, x)) && C_{in} \to C_{mid} \\
    h_2 &= \mathrm{MaxPool}_{1\times2}(\mathrm{BN}(\mathrm{DW}_{1\times3}\, h_1)) && C_{mid} \to 2C_{mid} \\
    h_3 &= \mathrm{MaxPool}_{2\times1}(\mathrm{BN}(\mathrm{DW}_{3\times1}\, h_2)) \\
    y &= \mathrm{LReLU}(\mathrm{BN}(W_{1\times1}\, h_3)) && 2C_{mid} \to C_{out}

Both blocks have no residual connection (§3: residuals hurt slim networks). With
`downsample=False` they keep the resolution (no pooling, a 1×1 last convolution), for replacing
a 3×3 convolution that is not followed by pooling. `ceil_mode=True` rounds odd sizes up, as a
padded stride-2 3×3 convolution does (⌈H/2⌉); the default rounds down, as 2×2 max-pooling does.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from nivalis.layers.conv_bn_act import ConvBnAct

EFFNET_MIN_MID = 6  # §4.2: "a factor of 0.5, with a minimal channel amount of 6"


class _PadToEvenHeight(nn.Module):
    """Zero-pad one bottom row when the height is odd, so a (2, 1)/(2, 1) convolution gives ⌈H/2⌉."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, 0, 0, x.shape[-2] % 2)) if x.shape[-2] % 2 else x


class EffNetBlock(nn.Module):
    """EffNet v1 block (seed 003 §4.2, Fig. 1c): 1×1 → dw 1×3 → 1×2 max-pool → dw 3×1 → 2×1 conv, stride (2, 1).

    Args:
        in_chs, out_chs: C_in and C_out.
        downsample: halve H and W (replaces 3×3 conv + 2×2 max-pool or a stride-2 3×3 conv).
        depth_multiplier: d of the 1×3 depthwise filter (1 in Table 1, 2 "where found useful").
        min_mid: lower bound of the bottleneck width (6).
        act: δ after the two pointwise convolutions; None gives a linear output.
        dw_act: activation after the depthwise filters (linear in the seed).
        ceil_mode: round odd sizes up instead of down when downsampling.

    Shapes: (N, C_in, H, W) → (N, C_out, H/2, W/2) (floor, or ceil with `ceil_mode`), or (N, C_out, H, W).
    """

    def __init__(self, in_chs: int, out_chs: int, *, downsample: bool = True, depth_multiplier: int = 1,
                 min_mid: int = EFFNET_MIN_MID, act: str | None = "relu", dw_act: str | None = None,
                 ceil_mode: bool = False):
        super().__init__()
        mid = max(out_chs // 2, min_mid)
        dw = mid * depth_multiplier
        self.conv_pw = ConvBnAct(in_chs, mid, 1, act=act)
        self.conv_dw_h = ConvBnAct(mid, dw, (1, 3), groups=mid, act=dw_act)
        self.pool_w = nn.MaxPool2d((1, 2), (1, 2), ceil_mode=ceil_mode) if downsample else nn.Identity()
        self.conv_dw_v = ConvBnAct(dw, dw, (3, 1), groups=dw, act=dw_act)
        self.pad = _PadToEvenHeight() if (downsample and ceil_mode) else nn.Identity()
        if downsample:
            self.conv_out = ConvBnAct(dw, out_chs, (2, 1), stride=(2, 1), padding=0, act=act)
        else:
            self.conv_out = ConvBnAct(dw, out_chs, 1, act=act)
        self.in_chs, self.out_chs, self.mid_chs = in_chs, out_chs, mid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_pw(x)
        x = self.conv_dw_v(self.pool_w(self.conv_dw_h(x)))
        return self.conv_out(self.pad(x))


class EffNetV2Block(nn.Module):
    """EffNet v2 block (seed 003 §6.2, Fig. 1d): 1×1 (⌊C_in·t/2⌋) → dw 1×3 ×2 → 1×2 pool → dw 3×1 → 2×1 pool → 1×1 → LReLU.

    Args:
        in_chs, out_chs: C_in and C_out.
        expansion: t of ⌊C_in·t/2⌋ (2, 4 or 6 in Tables 5-7).
        downsample: halve H and W with the two one-dimensional poolings.
        depth_multiplier: of the 1×3 depthwise filter (2, "natively integrated").
        act: activation after the first pointwise convolution.
        last_act: activation of the block output (leaky ReLU, §6.2 "fourth change").
        dw_act: activation after the depthwise filters (linear in the seed).
        ceil_mode: round odd sizes up instead of down when downsampling.

    Shapes: (N, C_in, H, W) → (N, C_out, H/2, W/2), or (N, C_out, H, W) without downsampling.
    """

    def __init__(self, in_chs: int, out_chs: int, *, expansion: float = 6, downsample: bool = True,
                 depth_multiplier: int = 2, act: str | None = "relu", last_act: str | None = "leaky_relu",
                 dw_act: str | None = None, ceil_mode: bool = False):
        super().__init__()
        mid = max(int(in_chs * expansion // 2), 1)
        dw = mid * depth_multiplier
        self.conv_pw = ConvBnAct(in_chs, mid, 1, act=act)
        self.conv_dw_h = ConvBnAct(mid, dw, (1, 3), groups=mid, act=dw_act)
        self.pool_w = nn.MaxPool2d((1, 2), (1, 2), ceil_mode=ceil_mode) if downsample else nn.Identity()
        self.conv_dw_v = ConvBnAct(dw, dw, (3, 1), groups=dw, act=dw_act)
        self.pool_h = nn.MaxPool2d((2, 1), (2, 1), ceil_mode=ceil_mode) if downsample else nn.Identity()
        self.conv_pwl = ConvBnAct(dw, out_chs, 1, act=last_act)
        self.in_chs, self.out_chs, self.mid_chs = in_chs, out_chs, mid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool_w(self.conv_dw_h(self.conv_pw(x)))
        return self.conv_pwl(self.pool_h(self.conv_dw_v(x)))
