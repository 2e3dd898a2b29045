"""Inception modules (seed 001 "Inception networks introduced parallel paths with different kernel sizes").

An Inception module runs parallel branches on the same input and concatenates them along channels:

.. math::
    y = \\big[\\, f_{1\\times1}(x) \\,\\|\\, f_{3\\times3}(g_{1\\times1}(x)) \\,\\|\\,
        f_{5\\times5}(g'_{1\\times1}(x)) \\,\\|\\, h_{1\\times1}(\\mathrm{pool}(x)) \\,\\big]

The 1×1 convolutions g reduce channels before the expensive k×k filters (Szegedy et al. 2015). Inception
v3 (Szegedy et al. 2016) factorises 5×5 into two 3×3, n×n into 1×n then n×1, and reduces the grid with
strided branches inside the module (`InceptionB`, `InceptionD`) instead of a pooling layer in between.
Every convolution is conv (no bias) → batch norm → ReLU.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from nivalis.layers.conv_bn_act import ConvBnAct


def conv(in_chs: int, out_chs: int, kernel_size: int | tuple[int, int], stride: int = 1,
         padding: int | tuple[int, int] | None = None) -> ConvBnAct:
    """Inception's basic unit; `padding=None` keeps the size ('same'), `padding=0` is a valid convolution."""
    return ConvBnAct(in_chs, out_chs, kernel_size, stride=stride, padding=padding)


class InceptionV1(nn.Module):
    """GoogLeNet module (Szegedy et al. 2015, Fig. 2b / Table 1 columns #1×1, #3×3 reduce, #3×3, #5×5 reduce,
    #5×5, pool proj).

    `wide_kernel` is the kernel of the "5×5" branch. The paper uses 5; the widely used torchvision
    re-implementation (and its 6,624,904-parameter count) uses 3, which is our default.
    """

    def __init__(self, in_chs: int, c1: int, c3_reduce: int, c3: int, c5_reduce: int, c5: int, pool_proj: int,
                 wide_kernel: int = 3):
        super().__init__()
        self.branch1 = conv(in_chs, c1, 1)
        self.branch2 = nn.Sequential(conv(in_chs, c3_reduce, 1), conv(c3_reduce, c3, 3))
        self.branch3 = nn.Sequential(conv(in_chs, c5_reduce, 1), conv(c5_reduce, c5, wide_kernel))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), conv(in_chs, pool_proj, 1))
        self.out_chs = c1 + c3 + c5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)), dim=1)


class InceptionAux(nn.Module):
    """Auxiliary classifier on mid-level features (GoogLeNet §5): pool to 4×4 → 1×1 conv 128 → FC 1024 →
    dropout 0.7 → FC classes."""

    def __init__(self, in_chs: int, num_classes: int, drop_rate: float = 0.7):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.conv = conv(in_chs, 128, 1)
        self.fc1 = nn.Linear(128 * 16, 1024)
        self.act = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(drop_rate)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.pool(x)).flatten(1)
        return self.fc2(self.dropout(self.act(self.fc1(x))))


class InceptionA(nn.Module):
    """Inception v3 35×35 module (Fig. 5): 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avg-pool→1×1."""

    def __init__(self, in_chs: int, pool_features: int):
        super().__init__()
        self.branch1x1 = conv(in_chs, 64, 1)
        self.branch5x5 = nn.Sequential(conv(in_chs, 48, 1), conv(48, 64, 5))
        self.branch3x3dbl = nn.Sequential(conv(in_chs, 64, 1), conv(64, 96, 3), conv(96, 96, 3))
        self.branch_pool = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), conv(in_chs, pool_features, 1))
        self.out_chs = 64 + 64 + 96 + pool_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch1x1(x), self.branch5x5(x), self.branch3x3dbl(x), self.branch_pool(x)), 1)


class InceptionB(nn.Module):
    """Inception v3 grid reduction 35 → 17 (Fig. 10): 3×3/2 | 1×1→3×3→3×3/2 | max-pool 3×3/2."""

    def __init__(self, in_chs: int):
        super().__init__()
        self.branch3x3 = conv(in_chs, 384, 3, stride=2, padding=0)
        self.branch3x3dbl = nn.Sequential(conv(in_chs, 64, 1), conv(64, 96, 3), conv(96, 96, 3, stride=2, padding=0))
        self.branch_pool = nn.MaxPool2d(3, stride=2)
        self.out_chs = 384 + 96 + in_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch3x3(x), self.branch3x3dbl(x), self.branch_pool(x)), 1)


class InceptionC(nn.Module):
    """Inception v3 17×17 module with n×n factorised into 1×n and n×1 (Fig. 6, n = 7)."""

    def __init__(self, in_chs: int, c7: int):
        super().__init__()
        self.branch1x1 = conv(in_chs, 192, 1)
        self.branch7x7 = nn.Sequential(conv(in_chs, c7, 1), conv(c7, c7, (1, 7)), conv(c7, 192, (7, 1)))
        self.branch7x7dbl = nn.Sequential(conv(in_chs, c7, 1), conv(c7, c7, (7, 1)), conv(c7, c7, (1, 7)),
                                          conv(c7, c7, (7, 1)), conv(c7, 192, (1, 7)))
        self.branch_pool = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), conv(in_chs, 192, 1))
        self.out_chs = 768

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch1x1(x), self.branch7x7(x), self.branch7x7dbl(x), self.branch_pool(x)), 1)


class InceptionD(nn.Module):
    """Inception v3 grid reduction 17 → 8: 1×1→3×3/2 | 1×1→1×7→7×1→3×3/2 | max-pool 3×3/2."""

    def __init__(self, in_chs: int):
        super().__init__()
        self.branch3x3 = nn.Sequential(conv(in_chs, 192, 1), conv(192, 320, 3, stride=2, padding=0))
        self.branch7x7x3 = nn.Sequential(conv(in_chs, 192, 1), conv(192, 192, (1, 7)), conv(192, 192, (7, 1)),
                                         conv(192, 192, 3, stride=2, padding=0))
        self.branch_pool = nn.MaxPool2d(3, stride=2)
        self.out_chs = 320 + 192 + in_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch3x3(x), self.branch7x7x3(x), self.branch_pool(x)), 1)


class InceptionE(nn.Module):
    """Inception v3 8×8 module with expanded filter banks (Fig. 7): the 3×3 outputs split into parallel
    1×3 and 3×1 convolutions whose outputs are concatenated."""

    def __init__(self, in_chs: int):
        super().__init__()
        self.branch1x1 = conv(in_chs, 320, 1)
        self.branch3x3_1 = conv(in_chs, 384, 1)
        self.branch3x3_2a = conv(384, 384, (1, 3))
        self.branch3x3_2b = conv(384, 384, (3, 1))
        self.branch3x3dbl_1 = nn.Sequential(conv(in_chs, 448, 1), conv(448, 384, 3))
        self.branch3x3dbl_3a = conv(384, 384, (1, 3))
        self.branch3x3dbl_3b = conv(384, 384, (3, 1))
        self.branch_pool = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), conv(in_chs, 192, 1))
        self.out_chs = 320 + 768 + 768 + 192

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_1(x)
        b = self.branch3x3dbl_1(x)
        return torch.cat((self.branch1x1(x), self.branch3x3_2a(a), self.branch3x3_2b(a),
                          self.branch3x3dbl_3a(b), self.branch3x3dbl_3b(b), self.branch_pool(x)), 1)


class InceptionV3Aux(nn.Module):
    """Inception v3 auxiliary head on the 17×17 grid (§4): avg-pool 5×5/3 → 1×1 (128) → 5×5 (768) →
    global pool → FC classes."""

    def __init__(self, in_chs: int, num_classes: int):
        super().__init__()
        self.pool = nn.AvgPool2d(5, stride=3)
        self.conv0 = conv(in_chs, 128, 1)
        self.conv1 = conv(128, 768, 5, padding=0)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.gap(self.conv1(self.conv0(self.pool(x)))).flatten(1))
