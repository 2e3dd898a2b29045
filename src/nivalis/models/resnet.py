"""ResNet family (He et al. 2016; seed 001 "ResNets"), with ResNeXt and Wide ResNet variants.

.. math::
    y = \\mathrm{ReLU}\\big(\\mathcal{F}(x) + W_s x\\big)

Stem → four stages of residual blocks (64, 128, 256, 512 planes; stride 2 at the start of stages 2-4) →
global average pooling → fully connected classifier. The ImageNet stem is a 7×7/2 convolution + 3×3/2
max-pool (224 → 56); the CIFAR stem (`stem="cifar"`) is one 3×3/1 convolution without the max-pool, so
32×32 inputs keep 32×32 maps into stage 1. Blocks live in `nivalis.layers.residual`; each variant below
is only a configuration (the SE-ResNets, `se_ratio=1/16`, are registered in `nivalis.models.senet`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn as nn

from nivalis.layers import ClassifierHead, ClassifierMixin
from nivalis.layers.conv_bn_act import ConvBnAct
from nivalis.layers.residual import BasicBlock, Bottleneck, ConvFactory, output_norms
from nivalis.models.configs import torchvision_cfg
from nivalis.models.registry import register_model
from nivalis.models.weights import PublishedWeights

__all__ = ["ResNet", "BasicBlock", "Bottleneck"]

_STEMS = ("imagenet", "cifar")


class ResNet(ClassifierMixin, nn.Module):
    """One configurable ResNet.

    Args:
        block: `BasicBlock` or `Bottleneck`.
        layers: blocks per stage, e.g. (3, 4, 6, 3) for ResNet-50.
        num_classes: classifier outputs (0 → features only).
        in_chans: input channels.
        stem: "imagenet" (7×7/2 conv + 3×3/2 max-pool) or "cifar" (3×3/1 conv, no pool).
        groups, base_width: ResNeXt cardinality and width per group; Wide ResNet sets base_width=128.
        se_ratio: squeeze-and-excitation reduction (1/16 for SE-ResNet), 0 = none.
        stem_width: channels of the stem (64).
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic depth, increased linearly from 0 to this value over the blocks.
        conv3x3_for_block: the hook for the blocks' 3×3 slots: called once per residual block, in build
            order, with the block's index (0 … sum(layers) − 1); it returns the `ConvFactory` that block
            builds its 3×3 units with (`nivalis.layers.residual`). None → conv 3×3 → BN → act everywhere.
            One factory for all blocks is `lambda b: factory`; NAR's operator codes come through here
            (`nivalis.nas.space.build_refined`).
        zero_init_last: start each residual branch at zero (last BN γ = 0), so blocks begin as identities.
        width_mult: multiplier of the stem and stage channels (1.0 = the published widths), for narrow variants.

    Shapes: (N, in_chans, H, W) → (N, num_classes); any H, W ≥ 32 (imagenet stem) or ≥ 8 (cifar stem).
    """

    classifier_name = "fc"

    def __init__(self, block: type[nn.Module], layers: Sequence[int], num_classes: int = 1000, in_chans: int = 3,
                 stem: str = "imagenet", groups: int = 1, base_width: int = 64, se_ratio: float = 0.0,
                 stem_width: int = 64, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 conv3x3_for_block: Callable[[int], ConvFactory] | None = None, zero_init_last: bool = True,
                 width_mult: float = 1.0):
        super().__init__()
        if stem not in _STEMS:
            raise ValueError(f"stem must be one of {_STEMS}, got {stem!r}")
        if width_mult <= 0:
            raise ValueError(f"width_mult must be positive, got {width_mult}")
        stem_width = max(1, round(stem_width * width_mult))
        self.stem_type = stem
        if stem == "imagenet":
            self.stem = nn.Sequential(ConvBnAct(in_chans, stem_width, 7, stride=2),
                                      nn.MaxPool2d(3, stride=2, padding=1))
        else:
            self.stem = ConvBnAct(in_chans, stem_width, 3, stride=1)
        total = sum(layers)
        index = 0
        in_chs = stem_width
        stages = []
        for stage, (depth, planes) in enumerate(zip(layers, (64, 128, 256, 512))):
            planes = max(1, round(planes * width_mult))
            blocks = []
            for i in range(depth):
                dpr = drop_path_rate * index / max(1, total - 1)
                blocks.append(block(in_chs, planes, stride=2 if (stage > 0 and i == 0) else 1, groups=groups,
                                    base_width=base_width, se_ratio=se_ratio, drop_path=dpr,
                                    conv3x3=conv3x3_for_block(index) if conv3x3_for_block else None))
                in_chs = planes * block.expansion
                index += 1
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.num_features = in_chs
        self.fc = ClassifierHead(in_chs, num_classes, drop_rate=drop_rate)
        self._init_weights(zero_init_last)

    def _init_weights(self, zero_init_last: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_last:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    last = m.conv3 if isinstance(m, Bottleneck) else m.conv2
                    for bn in output_norms(last):
                        nn.init.zeros_(bn.weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


def _create_resnet(block: type[nn.Module], layers: Sequence[int], **kwargs) -> ResNet:
    return ResNet(block, layers, **kwargs)


@register_model
def resnet18(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> ResNet:
    return _create_resnet(BasicBlock, (2, 2, 2, 2), num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def resnet34(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> ResNet:
    return _create_resnet(BasicBlock, (3, 4, 6, 3), num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def resnet50(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> ResNet:
    return _create_resnet(Bottleneck, (3, 4, 6, 3), num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def resnet101(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> ResNet:
    return _create_resnet(Bottleneck, (3, 4, 23, 3), num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def resnet152(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> ResNet:
    return _create_resnet(Bottleneck, (3, 8, 36, 3), num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def wide_resnet50_2(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> ResNet:
    """Wide ResNet-50-2: the bottleneck's 3×3 twice as wide (base width 128)."""
    return _create_resnet(Bottleneck, (3, 4, 6, 3), num_classes=num_classes, in_chans=in_chans, base_width=128,
                          **kwargs)


@register_model
def resnext50_32x4d(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> ResNet:
    """ResNeXt-50 (32×4d): cardinality 32, 4 channels per group in the first stage's 3×3."""
    return _create_resnet(Bottleneck, (3, 4, 6, 3), num_classes=num_classes, in_chans=in_chans, groups=32,
                          base_width=4, **kwargs)


default_cfgs = {name: torchvision_cfg(name, file) for name, file in (
    ("resnet18", "resnet18-f37072fd.pth"),
    ("resnet34", "resnet34-b627a593.pth"),
    ("resnet50", "resnet50-0676ba61.pth"),
    ("resnet101", "resnet101-63fe2227.pth"),
    ("resnet152", "resnet152-394f9c45.pth"),
    ("resnext50_32x4d", "resnext50_32x4d-7cdf4587.pth"),
    ("wide_resnet50_2", "wide_resnet50_2-95faca4d.pth"),
)}

# Published layout (torchvision `resnet50`, timm `resnet50`, `seresnet50`): `conv1`, `bn1`, `layerL.B.convK` /
# `layerL.B.bnK` (K = 1, 2[, 3]), `layerL.B.downsample.0` (1×1 conv) / `.1` (BN), `layerL.B.se.fc1|fc2`
# (timm's SE-ResNets), `fc`. nivalis wraps each convolution with its BN in one `ConvBnAct` (`.0` conv, `.1` BN)
# and calls the projection `shortcut`. Only the ImageNet stem has a published counterpart; torchvision's
# names and timm's are the same.
_PUBLISHED_RULES: tuple[tuple[str, str], ...] = (
    (r"^stem\.0\.0\.", "conv1."),
    (r"^stem\.0\.1\.", "bn1."),
    (r"\.conv(\d)\.0\.weight$", r".conv\1.weight"),
    (r"\.conv(\d)\.1\.", r".bn\1."),
    (r"\.shortcut\.", ".downsample."),
)

published_weights = {ResNet: PublishedWeights({"torchvision": (_PUBLISHED_RULES, {}), "timm": (_PUBLISHED_RULES, {})})}
