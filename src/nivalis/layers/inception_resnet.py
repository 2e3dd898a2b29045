"""Inception-ResNet-v2 blocks (Szegedy et al. 2017, "Inception-v4, Inception-ResNet and the impact of
residual connections on learning"; seed 001 "Inception V4", seed 002's IRNv2).

Each residual Inception block concatenates its branches, maps them back to the input width with a
linear 1×1 convolution (bias, no batch norm) and adds the result, scaled down for stability (§3.3):

.. math::
    y = \\mathrm{ReLU}\\big(x + s \\cdot W_{1\\times1} [\\, b_1(x) \\| \\dots \\| b_k(x) \\,]\\big),
    \\qquad s \\in [0.1, 0.3]

`Block35` (35×35 grid, Fig. 16), `Block17` (17×17, Fig. 17), `Block8` (8×8, Fig. 19); `Mixed5b`
is the stem's last module and `Mixed6a`/`Mixed7a` the grid reductions (Figs. 7 and 18). Widths follow the
released TF-slim model, whose parameter count (55,843,464 at 1000 classes) is the reference.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from nivalis.layers.inception import conv


class Mixed5b(nn.Module):
    def __init__(self, in_chs: int = 192):
        super().__init__()
        self.branch0 = conv(in_chs, 96, 1)
        self.branch1 = nn.Sequential(conv(in_chs, 48, 1), conv(48, 64, 5))
        self.branch2 = nn.Sequential(conv(in_chs, 64, 1), conv(64, 96, 3), conv(96, 96, 3))
        self.branch3 = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
                                     conv(in_chs, 64, 1))
        self.out_chs = 320

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


class Block35(nn.Module):
    """Inception-ResNet-A (35×35, 320 channels)."""

    def __init__(self, chs: int = 320, scale: float = 0.17):
        super().__init__()
        self.scale = scale
        self.branch0 = conv(chs, 32, 1)
        self.branch1 = nn.Sequential(conv(chs, 32, 1), conv(32, 32, 3))
        self.branch2 = nn.Sequential(conv(chs, 32, 1), conv(32, 48, 3), conv(48, 64, 3))
        self.up = nn.Conv2d(128, chs, 1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.up(torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1))
        return self.act(x + self.scale * y)


class Mixed6a(nn.Module):
    """Reduction-A (35 → 17): 3×3/2 (384) | 1×1 (256) → 3×3 (256) → 3×3/2 (384) | max-pool 3×3/2."""

    def __init__(self, in_chs: int = 320):
        super().__init__()
        self.branch0 = conv(in_chs, 384, 3, stride=2, padding=0)
        self.branch1 = nn.Sequential(conv(in_chs, 256, 1), conv(256, 256, 3), conv(256, 384, 3, stride=2, padding=0))
        self.branch2 = nn.MaxPool2d(3, stride=2)
        self.out_chs = 384 + 384 + in_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)


class Block17(nn.Module):
    """Inception-ResNet-B (17×17, 1088 channels): 1×1 (192) | 1×1 (128) → 1×7 (160) → 7×1 (192)."""

    def __init__(self, chs: int = 1088, scale: float = 0.10):
        super().__init__()
        self.scale = scale
        self.branch0 = conv(chs, 192, 1)
        self.branch1 = nn.Sequential(conv(chs, 128, 1), conv(128, 160, (1, 7)), conv(160, 192, (7, 1)))
        self.up = nn.Conv2d(384, chs, 1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.scale * self.up(torch.cat((self.branch0(x), self.branch1(x)), 1)))


class Mixed7a(nn.Module):
    """Reduction-B (17 → 8): three 1×1 → 3×3/2 branches (384, 288, 288→320) and a max-pool."""

    def __init__(self, in_chs: int = 1088):
        super().__init__()
        self.branch0 = nn.Sequential(conv(in_chs, 256, 1), conv(256, 384, 3, stride=2, padding=0))
        self.branch1 = nn.Sequential(conv(in_chs, 256, 1), conv(256, 288, 3, stride=2, padding=0))
        self.branch2 = nn.Sequential(conv(in_chs, 256, 1), conv(256, 288, 3), conv(288, 320, 3, stride=2, padding=0))
        self.branch3 = nn.MaxPool2d(3, stride=2)
        self.out_chs = 384 + 288 + 320 + in_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


class Block8(nn.Module):
    """Inception-ResNet-C (8×8, 2080 channels): 1×1 (192) | 1×1 (192) → 1×3 (224) → 3×1 (256).

    The network's last block has no ReLU and scale 1 (`final=True`).
    """

    def __init__(self, chs: int = 2080, scale: float = 0.20, final: bool = False):
        super().__init__()
        self.scale = 1.0 if final else scale
        self.branch0 = conv(chs, 192, 1)
        self.branch1 = nn.Sequential(conv(chs, 192, 1), conv(192, 224, (1, 3)), conv(224, 256, (3, 1)))
        self.up = nn.Conv2d(448, chs, 1)
        self.act = nn.Identity() if final else nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.scale * self.up(torch.cat((self.branch0(x), self.branch1(x)), 1)))
