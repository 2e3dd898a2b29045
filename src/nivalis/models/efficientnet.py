"""EfficientNet (Tan & Le 2019; seed 001 "EfficientNet used a scaling heuristic"): B0 and its compound scaling.

The baseline B0 (seed 001 table, stages 1-9) is stem Conv3×3/2 (32) → MBConv stages → Conv1×1 (1280) →
pooling → FC. Every MBConv block has squeeze-and-excitation (squeeze width = block input / 4) and the
SiLU ("swish") activation. Bigger networks are generated, not tabulated:

.. math::
    d = \\alpha^\\phi, \\quad w = \\beta^\\phi, \\quad r = \\gamma^\\phi, \\qquad
    \\alpha \\beta^2 \\gamma^2 \\approx 2, \\quad \\alpha = 1.2,\\ \\beta = 1.1,\\ \\gamma = 1.15

so FLOPs grow by about 2^φ. Layers per stage are ⌈d·L̂_i⌉, channels make_divisible(w·Ĉ_i, 8), and the
input side is r·224. The paper reports d and w to one decimal; we round them the same way, which
reproduces B0-B3 of the paper (φ = 0, 0.5, 1, 2). B4-B7 use φ = 3..6 and differ from the released
models, whose coefficients were tuned by hand (the released B7 is w = 2.0, d = 3.1, r = 600; the rule
gives w = 1.8, d = 3.0, r = 518).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn as nn

from nivalis.layers.classifier import ClassifierHead, ClassifierMixin
from nivalis.layers.conv_bn_act import ConvBnAct
from nivalis.layers.helpers import make_divisible
from nivalis.layers.inverted_residual import InvertedResidual
from nivalis.models.configs import IMAGENET_CFG, torchvision_cfg
from nivalis.models.registry import register_model
from nivalis.models.weights import TORCHVISION_STEM, PublishedWeights, first_match

__all__ = ["EfficientNet", "CompoundScaling", "B0_STAGES", "PHI"]

# EfficientNet-B0 (seed 001 table / paper Table 1), stages 2-8:
# (expansion, kernel, first stride, output channels, layers).
B0_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1),
)

# Compound coefficient φ of each variant (B1 = half a doubling of FLOPs, B2 one, B3 two, ...).
PHI = {"b0": 0.0, "b1": 0.5, "b2": 1.0, "b3": 2.0, "b4": 3.0, "b5": 4.0, "b6": 5.0, "b7": 6.0}


@dataclass(frozen=True)
class CompoundScaling:
    """Seed 001 "Scaling method": α, β, γ found by grid search at φ = 1 (Tan & Le §3.3, Eq. 3)."""

    alpha: float = 1.2  # depth
    beta: float = 1.1  # width
    gamma: float = 1.15  # resolution
    base_resolution: int = 224
    base_dropout: float = 0.2
    dropout_per_phi: float = 0.05  # 0.2 at B0 rising to 0.5 at B6/B7, as in the released models
    max_dropout: float = 0.5

    def coefficients(self, phi: float) -> tuple[float, float, int, float]:
        """(depth d, width w, input resolution, dropout) for compound coefficient φ."""
        depth = round(self.alpha ** phi, 1)
        width = round(self.beta ** phi, 1)
        resolution = int(round(self.base_resolution * self.gamma ** phi / 4)) * 4
        dropout = round(min(self.max_dropout, self.base_dropout + self.dropout_per_phi * phi), 3)
        return depth, width, resolution, dropout


class EfficientNet(ClassifierMixin, nn.Module):
    """EfficientNet with depth/width multipliers.

    Args:
        width_mult, depth_mult: w and d of the compound rule (1.0, 1.0 = B0).
        stem: "imagenet" (3×3/2 stem) or "cifar" (3×3/1 stem for 32×32 inputs).
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic depth, increased linearly over the blocks (0.2 in the paper).
        resolution: the input side this variant was scaled for (informational; any H, W ≥ 32 works).

    Shapes: (N, in_chans, H, W) → (N, num_classes).
    """

    classifier_name = "classifier"

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, width_mult: float = 1.0, depth_mult: float = 1.0,
                 stem: str = "imagenet", drop_rate: float = 0.2, drop_path_rate: float = 0.2,
                 stages: Sequence[tuple[int, int, int, int, int]] = B0_STAGES, resolution: int = 224):
        super().__init__()
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        self.resolution = resolution
        ch = make_divisible(32 * width_mult)
        self.stem = ConvBnAct(in_chans, ch, 3, stride=2 if stem == "imagenet" else 1, act="silu")
        depths = [math.ceil(depth_mult * n) for *_, n in stages]
        total, index, blocks = sum(depths), 0, []
        for (t, k, s, c, _), n in zip(stages, depths):
            out = make_divisible(c * width_mult)
            for i in range(n):
                blocks.append(InvertedResidual(ch, out, k, stride=s if i == 0 else 1, exp_ratio=t, act="silu",
                                               se_chs=max(1, ch // 4), se_act="silu", se_gate="sigmoid",
                                               drop_path=drop_path_rate * index / total))
                ch, index = out, index + 1
        self.blocks = nn.Sequential(*blocks)
        self.num_features = make_divisible(1280 * width_mult)
        self.head = ConvBnAct(ch, self.num_features, 1, act="silu")
        self.classifier = ClassifierHead(self.num_features, num_classes, drop_rate=drop_rate)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.Linear, ClassifierHead)) and m.weight is not None:
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


def _create_efficientnet(variant: str, num_classes: int, in_chans: int, **kwargs) -> EfficientNet:
    depth, width, resolution, dropout = CompoundScaling().coefficients(PHI[variant])
    kwargs.setdefault("drop_rate", dropout)
    return EfficientNet(num_classes=num_classes, in_chans=in_chans, width_mult=width, depth_mult=depth,
                        resolution=resolution, **kwargs)


@register_model
def efficientnet_b0(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> EfficientNet:
    return _create_efficientnet("b0", num_classes, in_chans, **kwargs)


@register_model
def efficientnet_b1(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> EfficientNet:
    return _create_efficientnet("b1", num_classes, in_chans, **kwargs)


@register_model
def efficientnet_b2(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> EfficientNet:
    return _create_efficientnet("b2", num_classes, in_chans, **kwargs)


@register_model
def efficientnet_b3(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> EfficientNet:
    return _create_efficientnet("b3", num_classes, in_chans, **kwargs)


@register_model
def efficientnet_b4(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> EfficientNet:
    return _create_efficientnet("b4", num_classes, in_chans, **kwargs)


@register_model
def efficientnet_b5(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> EfficientNet:
    return _create_efficientnet("b5", num_classes, in_chans, **kwargs)


@register_model
def efficientnet_b6(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> EfficientNet:
    return _create_efficientnet("b6", num_classes, in_chans, **kwargs)


@register_model
def efficientnet_b7(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> EfficientNet:
    return _create_efficientnet("b7", num_classes, in_chans, **kwargs)


# B1-B7 at the resolution of the compound rule (B4-B7 differ from the released models, see the module
# docstring, so no published weights are named for them).
default_cfgs = {
    "efficientnet_b0": torchvision_cfg("efficientnet_b0", "efficientnet_b0_rwightman-7f5810bc.pth", "classifier",
                                       interpolation="bicubic"),
    **{f"efficientnet_{variant}": replace(IMAGENET_CFG, input_size=(3, side, side), classifier="classifier",
                                          interpolation="bicubic")
       for variant, side in ((v, CompoundScaling().coefficients(phi)[2]) for v, phi in PHI.items() if v != "b0")},
}

# torchvision's `efficientnet_b*` (V1 weights, BatchNorm eps 1e-5): `features.0` stem (`.0` conv, `.1` BN);
# `features.s.j.block` for stage s = 1..7, block j, a Sequential [expand conv-BN-SiLU (absent at expansion 1)],
# depthwise conv-BN-SiLU, SqueezeExcitation (`fc1`, `fc2`), projection conv-BN; `features.8` the 1×1 conv to
# 1280; `classifier.1` the linear layer. nivalis keeps the blocks flat (`blocks.b`); a stage starts where the
# output width changes.


def _stage_index(model: nn.Module) -> list[tuple[int, int]]:
    """(stage 1-based, index in stage) of every block; widths change exactly at stage boundaries."""
    where, stage, j, prev = [], 0, 0, None
    for block in model.blocks:
        if block.out_chs != prev:
            stage, j, prev = stage + 1, 0, block.out_chs
        where.append((stage, j))
        j += 1
    return where


def _torchvision_block(m, model: nn.Module) -> str:
    b, part, sub, leaf = int(m[1]), m[2], m[3], m[4]
    stage, j = _stage_index(model)[b]
    dw = 1 if not isinstance(model.blocks[b].conv_pw, nn.Identity) else 0
    unit = {"conv_pw": 0, "conv_dw": dw, "se": dw + 1, "conv_pwl": dw + 2}[part]
    return f"features.{stage}.{j}.block.{unit}.{sub}.{leaf}"


def _to_torchvision(name: str, model: nn.Module) -> str:
    return first_match(name, (
        TORCHVISION_STEM,
        (r"classifier\.(weight|bias)", r"classifier.1.\1"),
        (r"head\.(\d)\.(\w+)", lambda m: f"features.{_stage_index(model)[-1][0] + 1}.{m[1]}.{m[2]}"),
        (r"blocks\.(\d+)\.(conv_pw|conv_dw|se|conv_pwl)\.(\w+)\.(\w+)", lambda m: _torchvision_block(m, model)),
    ))


published_weights = {EfficientNet: PublishedWeights({"torchvision": (_to_torchvision, {})})}
