"""DenseNet-BC (Huang et al. 2017; seed 001 "DenseNets included all possible skip connections").

7×7/2 convolution (2k channels) → 3×3/2 max-pool → four dense blocks joined by transition layers
(compression 0.5) → BN → ReLU → global pool → FC. DenseNet-121/169/201 use growth rate k = 32 and
(6, 12, 24, 16), (6, 12, 32, 32), (6, 12, 48, 32) layers per block (paper Table 1). The dense
connectivity x_l = H_l([x_0, …, x_{l-1}]) is in `nivalis.layers.dense`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from nivalis.layers.classifier import ClassifierHead, ClassifierMixin
from nivalis.layers.dense import Transition, dense_block
from nivalis.models.configs import torchvision_cfg
from nivalis.models.registry import register_model
from nivalis.models.weights import PublishedWeights, rule_map

__all__ = ["DenseNet"]


class DenseNet(ClassifierMixin, nn.Module):
    """DenseNet-BC.

    Args:
        growth_rate: k, new maps per layer.
        block_config: layers per dense block.
        num_init_features: stem width (2k).
        bn_size: bottleneck width factor (4k channels before each 3×3).
        compression: θ, the fraction of channels a transition keeps.
        stem: "imagenet" (7×7/2 + max-pool) or "cifar" (3×3/1, no pool).

    Shapes: (N, in_chans, H, W) → (N, num_classes); H, W ≥ 32 with the ImageNet stem.
    """

    classifier_name = "classifier"

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, growth_rate: int = 32,
                 block_config: Sequence[int] = (6, 12, 24, 16), num_init_features: int = 64, bn_size: int = 4,
                 compression: float = 0.5, drop_rate: float = 0.0, stem: str = "imagenet"):
        super().__init__()
        if stem == "imagenet":
            self.stem = nn.Sequential(nn.Conv2d(in_chans, num_init_features, 7, stride=2, padding=3, bias=False),
                                      nn.BatchNorm2d(num_init_features), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(3, stride=2, padding=1))
        elif stem == "cifar":
            self.stem = nn.Conv2d(in_chans, num_init_features, 3, padding=1, bias=False)
        else:
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        layers: list[nn.Module] = []
        ch = num_init_features
        for i, n in enumerate(block_config):
            layers.append(dense_block(ch, n, growth_rate, bn_size))
            ch += n * growth_rate
            if i != len(block_config) - 1:
                out = int(ch * compression)
                layers.append(Transition(ch, out))
                ch = out
        layers += [nn.BatchNorm2d(ch), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.num_features = ch
        self.classifier = ClassifierHead(ch, num_classes, drop_rate=drop_rate)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, (nn.Linear, ClassifierHead)) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


@register_model
def densenet121(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> DenseNet:
    return DenseNet(num_classes=num_classes, in_chans=in_chans, block_config=(6, 12, 24, 16), **kwargs)


@register_model
def densenet169(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> DenseNet:
    return DenseNet(num_classes=num_classes, in_chans=in_chans, block_config=(6, 12, 32, 32), **kwargs)


@register_model
def densenet201(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> DenseNet:
    return DenseNet(num_classes=num_classes, in_chans=in_chans, block_config=(6, 12, 48, 32), **kwargs)


default_cfgs = {
    "densenet121": torchvision_cfg("densenet121", "densenet121-a639ec97.pth", "classifier"),
    "densenet169": torchvision_cfg("densenet169", "densenet169-b2777c0a.pth", "classifier"),
    "densenet201": torchvision_cfg("densenet201", "densenet201-c1103571.pth", "classifier"),
}

# torchvision: `features.conv0`, `features.norm0`, `features.denseblockB.denselayerL.norm1|conv1|norm2|conv2`
# (B, L from 1), `features.transitionT.norm|conv`, `features.norm5`, `classifier`. The files torchvision
# distributes still use the older names `denselayerL.norm.1` / `conv.2` (torchvision renames them on load);
# `file_renames` does the same here. nivalis: `stem.0|1`, `features.2i.j` dense layers (same leaf names),
# `features.2i+1.0|2` transitions (BN, conv), the final BN `features.(2·blocks − 1)`, `classifier`.
_TO_TORCHVISION = (
    (r"stem\.0\.(\w+)", r"features.conv0.\1"),
    (r"stem\.1\.(\w+)", r"features.norm0.\1"),
    (r"features\.(\d+)\.(\d+)\.(norm1|conv1|norm2|conv2)\.(\w+)",
     lambda m: f"features.denseblock{int(m[1]) // 2 + 1}.denselayer{int(m[2]) + 1}.{m[3]}.{m[4]}"),
    (r"features\.(\d+)\.0\.(\w+)", lambda m: f"features.transition{int(m[1]) // 2 + 1}.norm.{m[2]}"),
    (r"features\.(\d+)\.2\.(\w+)", lambda m: f"features.transition{int(m[1]) // 2 + 1}.conv.{m[2]}"),
    (r"features\.(\d+)\.(\w+)", r"features.norm5.\2"),
)

published_weights = {DenseNet: PublishedWeights(
    {"torchvision": (rule_map(_TO_TORCHVISION), {})},
    file_renames=((r"(denselayer\d+\.(?:norm|conv))\.([12])\.", r"\1\2."),))}
