"""Squeeze-and-excitation networks (Hu et al. 2018; seed 001 "Squeeze & excitation networks").

SE-ResNet: every residual block's branch is rescaled channel-wise before the addition,

.. math::
    \\tilde X_c = s_c U_c, \\qquad s = \\sigma\\big(W_2\\, \\mathrm{ReLU}(W_1 z)\\big), \\qquad
    z_c = \\tfrac{1}{HW} \\textstyle\\sum_{i,j} U_{c,i,j}

with reduction r = 16 (`W_1` maps C → C/16). The network is the zoo ResNet with `se_ratio=1/16`; the gate
is `nivalis.layers.squeeze_excite.SqueezeExcite`.
"""

from __future__ import annotations

from dataclasses import replace

from nivalis.layers.residual import BasicBlock, Bottleneck
from nivalis.models.configs import IMAGENET_CFG
from nivalis.models.registry import register_model
from nivalis.models.resnet import ResNet

SE_RATIO = 1 / 16  # r = 16, Hu et al. §6.1


@register_model
def seresnet18(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> ResNet:
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes=num_classes, in_chans=in_chans, se_ratio=SE_RATIO, **kwargs)


@register_model
def seresnet50(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> ResNet:
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes=num_classes, in_chans=in_chans, se_ratio=SE_RATIO, **kwargs)


@register_model
def seresnext50_32x4d(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> ResNet:
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes=num_classes, in_chans=in_chans, se_ratio=SE_RATIO, groups=32,
                  base_width=4, **kwargs)


# The published SE-ResNets (timm) load through the ResNet name map of `nivalis.models.resnet`. timm has no
# trained `seresnet18` (and squeezes its 64-channel blocks to 8, not C/16 = 4).
default_cfgs = {
    "seresnet18": IMAGENET_CFG,
    "seresnet50": replace(IMAGENET_CFG, interpolation="bicubic", weights="timm:seresnet50"),
    "seresnext50_32x4d": replace(IMAGENET_CFG, interpolation="bicubic", weights="timm:seresnext50_32x4d"),
}
