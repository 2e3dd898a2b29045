"""U-Net (Ronneberger et al. 2015; seed 001 "U-Net combined low and high-level features").

Contracting path: four steps of two 3×3 convolutions + ReLU then 2×2 max-pool, doubling the channels
64 → 128 → 256 → 512, and a bottom pair at 1024. Expansive path: a 2×2 transposed convolution ("up-
convolution") halves the channels and doubles the grid, the result is concatenated with the contracting
feature map of the same level (the skip connection), and two 3×3 convolutions + ReLU follow. A 1×1
convolution maps the 64 channels to the class scores of every pixel:

.. math::
    d_l = \\mathrm{conv}^2_{3\\times3}\\big([\\, e_l \\,\\|\\, \\mathrm{up}_{2\\times2}(d_{l+1}) \\,]\\big)

The paper's convolutions are unpadded (output smaller than the input, tiles overlap); here they are
padded (`padding=1`), so the score map has the input's size — the common variant, with the same
31,030,658 parameters at in_chans=1, num_classes=2 (no batch norm, biases everywhere). Inputs whose sides
are not multiples of 16 are zero-padded and the scores cropped back.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from nivalis.layers.classifier import ClassifierMixin
from nivalis.layers.conv_bn_act import ConvBnAct
from nivalis.models.configs import DefaultCfg
from nivalis.models.registry import register_model

__all__ = ["UNet"]


def double_conv(in_chs: int, out_chs: int, batch_norm: bool) -> nn.Sequential:
    return nn.Sequential(ConvBnAct(in_chs, out_chs, 3, bn=batch_norm), ConvBnAct(out_chs, out_chs, 3, bn=batch_norm))


class UpStep(nn.Module):
    """Up-convolution 2×2/2 (C → C/2), concatenation with the skip, two 3×3 convolutions (C → C/2)."""

    def __init__(self, in_chs: int, out_chs: int, batch_norm: bool):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_chs, out_chs, 2, stride=2)
        self.conv = double_conv(2 * out_chs, out_chs, batch_norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat((skip, self.up(x)), dim=1))


class UNet(ClassifierMixin, nn.Module):
    """U-Net for per-pixel classification.

    Args:
        num_classes: score maps (2 in the paper: cell / background).
        in_chans: image channels (1 in the paper).
        widths: channels per level (64, 128, 256, 512, 1024).
        batch_norm: add batch norm after each convolution (not in the paper).

    Shapes: (N, in_chans, H, W) → (N, num_classes, H, W).
    """

    classifier_name = "head"

    def __init__(self, num_classes: int = 2, in_chans: int = 1, widths: Sequence[int] = (64, 128, 256, 512, 1024),
                 batch_norm: bool = False):
        super().__init__()
        widths = tuple(widths)
        if len(widths) != 5:
            raise ValueError(f"widths must list 5 levels, got {len(widths)}")
        self.multiple = 2 ** (len(widths) - 1)
        self.enc1 = double_conv(in_chans, widths[0], batch_norm)
        self.enc2 = nn.Sequential(nn.MaxPool2d(2), double_conv(widths[0], widths[1], batch_norm))
        self.enc3 = nn.Sequential(nn.MaxPool2d(2), double_conv(widths[1], widths[2], batch_norm))
        self.enc4 = nn.Sequential(nn.MaxPool2d(2), double_conv(widths[2], widths[3], batch_norm))
        self.bottom = nn.Sequential(nn.MaxPool2d(2), double_conv(widths[3], widths[4], batch_norm))
        self.up4 = UpStep(widths[4], widths[3], batch_norm)
        self.up3 = UpStep(widths[3], widths[2], batch_norm)
        self.up2 = UpStep(widths[2], widths[1], batch_norm)
        self.up1 = UpStep(widths[1], widths[0], batch_norm)
        self.num_features, self.num_classes = widths[0], num_classes
        self.head = self._new_classifier(num_classes)

    def _new_classifier(self, num_classes: int) -> nn.Module:
        # A dense model: num_classes=0 leaves per-pixel features (num_features channels), not pooled ones.
        return nn.Conv2d(self.num_features, num_classes, 1) if num_classes else nn.Identity()

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.head(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last decoder map, cropped to the input size (the 1×1 head commutes with the crop)."""
        h, w = x.shape[-2:]
        pad_h, pad_w = (-h) % self.multiple, (-w) % self.multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        e4 = self.enc4(e3)
        d = self.up4(self.bottom(e4), e4)
        d = self.up1(self.up2(self.up3(d, e3), e2), e1)
        return d[..., :h, :w]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


@register_model
def unet(num_classes: int = 2, in_chans: int = 1, **kwargs) -> UNet:
    return UNet(num_classes=num_classes, in_chans=in_chans, **kwargs)


default_cfgs = {"unet": DefaultCfg(input_size=(1, 256, 256), num_classes=2, mean=None, std=None, classifier="head")}
