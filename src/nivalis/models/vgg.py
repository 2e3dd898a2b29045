"""VGG networks (Simonyan & Zisserman 2015; seed 001 "VGG networks added simplicity and depth").

Stacks of 3×3 convolutions (stride 1, padding 1, ReLU) separated by 2×2 max-pools, widths 64 → 512,
then FC 4096 → FC 4096 → FC classes with dropout 0.5. Configurations A (11 weight layers), D (16) and
E (19) of the paper's Table 1; `_bn` variants add batch norm after every convolution. Two stacked 3×3
convolutions see a 5×5 window with 2·9C² instead of 25C² weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn

from nivalis.layers.classifier import ClassifierMixin
from nivalis.models.configs import torchvision_cfg
from nivalis.models.fc_head import FullyConnectedHead
from nivalis.models.registry import register_model
from nivalis.models.weights import PublishedWeights

__all__ = ["VGG", "CONFIGS"]

# Table 1: conv widths, "M" = 2×2 max-pool.
CONFIGS: dict[str, tuple[int | str, ...]] = {
    "A": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "B": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "D": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "E": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}


class VGG(FullyConnectedHead, ClassifierMixin, nn.Module):
    """VGG with a configuration from Table 1.

    Args:
        cfg: conv widths and "M" for max-pool.
        batch_norm: batch norm after each convolution (the `_bn` models).
        pool_size: side of the adaptive average pool before the classifier (7 at 224×224; 1 gives the
            compact 512 → 4096 head commonly used on 32×32 images).
        drop_rate: dropout in the classifier (0.5).

    Shapes: (N, in_chans, H, W) → (N, num_classes); H, W ≥ 32.
    """

    classifier_name = "classifier.6"

    def __init__(self, cfg: Sequence[int | str], num_classes: int = 1000, in_chans: int = 3, batch_norm: bool = False,
                 pool_size: int = 7, drop_rate: float = 0.5):
        super().__init__()
        layers: list[nn.Module] = []
        ch = in_chans
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, stride=2))
                continue
            layers.append(nn.Conv2d(ch, int(v), 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(int(v)))
            layers.append(nn.ReLU(inplace=True))
            ch = int(v)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(pool_size)
        self.classifier = nn.Sequential(
            nn.Linear(ch * pool_size * pool_size, 4096), nn.ReLU(inplace=True), nn.Dropout(drop_rate),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(drop_rate),
            nn.Linear(4096, num_classes) if num_classes else nn.Identity(),
        )
        self.num_features, self.num_classes = 4096, num_classes
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)


@register_model
def vgg11(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> VGG:
    return VGG(CONFIGS["A"], num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def vgg11_bn(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> VGG:
    return VGG(CONFIGS["A"], num_classes=num_classes, in_chans=in_chans, batch_norm=True, **kwargs)


@register_model
def vgg13(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> VGG:
    return VGG(CONFIGS["B"], num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def vgg16(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> VGG:
    return VGG(CONFIGS["D"], num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def vgg16_bn(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> VGG:
    return VGG(CONFIGS["D"], num_classes=num_classes, in_chans=in_chans, batch_norm=True, **kwargs)


@register_model
def vgg19(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> VGG:
    return VGG(CONFIGS["E"], num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def vgg19_bn(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> VGG:
    return VGG(CONFIGS["E"], num_classes=num_classes, in_chans=in_chans, batch_norm=True, **kwargs)


default_cfgs = {name: torchvision_cfg(name, file, "classifier.6") for name, file in (
    ("vgg11", "vgg11-8a719046.pth"),
    ("vgg11_bn", "vgg11_bn-6002323d.pth"),
    ("vgg13", "vgg13-19584684.pth"),
    ("vgg16", "vgg16-397923af.pth"),
    ("vgg16_bn", "vgg16_bn-6c64b313.pth"),
    ("vgg19", "vgg19-dcbb9e9d.pth"),
    ("vgg19_bn", "vgg19_bn-c79401a0.pth"),
)}

# nivalis uses torchvision's names (`features.i`, `classifier.0|3|6`): the layer order is the paper's (conv →
# [BN] → ReLU per width, max-pool per "M"), which is also torchvision's, so the Sequential indices agree; the
# test builds both name lists and checks it.
published_weights = {VGG: PublishedWeights({"torchvision": ((), {})})}
