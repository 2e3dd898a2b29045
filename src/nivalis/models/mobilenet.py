"""MobileNets (seed 001 "MobileNets were optimized for edge computing"): V1, V2 and V3 with a width multiplier.

* V1 (Howard et al. 2017, Table 1): a 3×3/2 convolution, then 13 depthwise-separable blocks
  (dw 3×3 → BN → ReLU → pw 1×1 → BN → ReLU), global pooling, one fully connected layer. A depthwise-
  separable layer costs 1/N + 1/k² of a full convolution.
* V2 (Sandler et al. 2018, Table 2): inverted residuals with linear bottlenecks, rows (t, c, n, s) =
  expansion, output channels, repeats, first stride; ReLU6; a 1×1 convolution to 1280 before pooling.
* V3 (Howard et al. 2019, Tables 1-2): the searched large/small networks, hard-swish
  h-swish(x) = x·ReLU6(x+3)/6, squeeze-and-excitation with hard-sigmoid gate and squeeze width
  make_divisible(expanded/4, 8), and an efficient last stage (1×1 conv → pool → 1×1 "fc" 1280/1024 → classifier).

The width multiplier α scales every channel count, rounded to a multiple of 8 (`make_divisible`); the
V2 head is never thinned below 1280. `stem="cifar"` makes the first convolution stride 1 for 32×32 inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
import torch.nn as nn

from nivalis.layers.classifier import ClassifierHead, ClassifierMixin
from nivalis.layers.conv_bn_act import ConvBnAct, make_activation
from nivalis.layers.depthwise_separable import DepthwiseSeparableConv
from nivalis.layers.helpers import make_divisible
from nivalis.layers.inverted_residual import InvertedResidual
from nivalis.models.configs import IMAGENET_CFG, torchvision_cfg
from nivalis.models.registry import register_model
from nivalis.models.weights import TORCHVISION_STEM, PublishedWeights, first_match

__all__ = ["MobileNetV1", "MobileNetV2", "MobileNetV3"]

# MobileNet V1 Table 1 after the stem: (output channels, stride) of each depthwise-separable block.
V1_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)

# MobileNet V2 Table 2: (expansion t, output channels c, repeats n, first stride s).
V2_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)

# MobileNet V3 Tables 1 (large) and 2 (small): (kernel, expanded width, output width, SE, activation, stride).
V3_LARGE: tuple[tuple[int, int, int, bool, str, int], ...] = (
    (3, 16, 16, False, "relu", 1), (3, 64, 24, False, "relu", 2), (3, 72, 24, False, "relu", 1),
    (5, 72, 40, True, "relu", 2), (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hardswish", 2), (3, 200, 80, False, "hardswish", 1), (3, 184, 80, False, "hardswish", 1),
    (3, 184, 80, False, "hardswish", 1), (3, 480, 112, True, "hardswish", 1), (3, 672, 112, True, "hardswish", 1),
    (5, 672, 160, True, "hardswish", 2), (5, 960, 160, True, "hardswish", 1), (5, 960, 160, True, "hardswish", 1),
)
V3_SMALL: tuple[tuple[int, int, int, bool, str, int], ...] = (
    (3, 16, 16, True, "relu", 2), (3, 72, 24, False, "relu", 2), (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hardswish", 2), (5, 240, 40, True, "hardswish", 1), (5, 240, 40, True, "hardswish", 1),
    (5, 120, 48, True, "hardswish", 1), (5, 144, 48, True, "hardswish", 1), (5, 288, 96, True, "hardswish", 2),
    (5, 576, 96, True, "hardswish", 1), (5, 576, 96, True, "hardswish", 1),
)


def _stem_stride(stem: str) -> int:
    if stem not in ("imagenet", "cifar"):
        raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
    return 2 if stem == "imagenet" else 1


def _init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.Linear, ClassifierHead)) and m.weight is not None:
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


class MobileNetV1(ClassifierMixin, nn.Module):
    """MobileNet V1 (Table 1): stem 3×3/2 → 13 depthwise-separable blocks → pool → fc.

    Args:
        width_mult: α of §3.3, thins every layer.
        stem: "imagenet" (stride-2 stem) or "cifar" (stride 1).
        drop_rate: dropout before the classifier.
    """

    classifier_name = "classifier"

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, width_mult: float = 1.0, stem: str = "imagenet",
                 drop_rate: float = 0.0, blocks: Sequence[tuple[int, int]] = V1_BLOCKS):
        super().__init__()
        ch = make_divisible(32 * width_mult)
        self.stem = ConvBnAct(in_chans, ch, 3, stride=_stem_stride(stem))
        layers = []
        for out, stride in blocks:
            out = make_divisible(out * width_mult)
            layers.append(DepthwiseSeparableConv(ch, out, 3, stride=stride, act="relu"))
            ch = out
        self.blocks = nn.Sequential(*layers)
        self.num_features = ch
        self.classifier = ClassifierHead(ch, num_classes, drop_rate=drop_rate)
        _init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


class MobileNetV2(ClassifierMixin, nn.Module):
    """MobileNet V2 (Table 2): stem 3×3/2 (32) → 17 inverted residuals → 1×1 conv 1280 → pool → dropout → fc."""

    classifier_name = "classifier"

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, width_mult: float = 1.0, stem: str = "imagenet",
                 drop_rate: float = 0.2, drop_path_rate: float = 0.0,
                 stages: Sequence[tuple[int, int, int, int]] = V2_STAGES, head_chs: int = 1280):
        super().__init__()
        ch = make_divisible(32 * width_mult)
        self.stem = ConvBnAct(in_chans, ch, 3, stride=_stem_stride(stem), act="relu6")
        total = sum(n for _, _, n, _ in stages)
        layers, index = [], 0
        for t, c, n, s in stages:
            out = make_divisible(c * width_mult)
            for i in range(n):
                layers.append(InvertedResidual(ch, out, 3, stride=s if i == 0 else 1, exp_ratio=t, act="relu6",
                                               drop_path=drop_path_rate * index / total))
                ch, index = out, index + 1
        self.blocks = nn.Sequential(*layers)
        self.num_features = make_divisible(head_chs * max(1.0, width_mult))
        self.head = ConvBnAct(ch, self.num_features, 1, act="relu6")
        self.classifier = ClassifierHead(self.num_features, num_classes, drop_rate=drop_rate)
        _init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


class MobileNetV3(ClassifierMixin, nn.Module):
    """MobileNet V3 large/small: stem 3×3/2 (16, h-swish) → bneck blocks → 1×1 conv (6× last width) → pool →
    1×1 "fc" (1280 or 1024, h-swish, no BN) → dropout → classifier."""

    classifier_name = "classifier"

    def __init__(self, cfg: Sequence[tuple[int, int, int, bool, str, int]], head_chs: int, num_classes: int = 1000,
                 in_chans: int = 3, width_mult: float = 1.0, stem: str = "imagenet", drop_rate: float = 0.2,
                 drop_path_rate: float = 0.0):
        super().__init__()
        ch = make_divisible(16 * width_mult)
        self.stem = ConvBnAct(in_chans, ch, 3, stride=_stem_stride(stem), act="hardswish")
        layers = []
        for index, (k, exp, out, se, act, s) in enumerate(cfg):
            exp, out = make_divisible(exp * width_mult), make_divisible(out * width_mult)
            layers.append(InvertedResidual(ch, out, k, stride=s, exp_chs=exp, act=act,
                                           se_chs=make_divisible(exp / 4) if se else 0, se_act="relu",
                                           se_gate="hardsigmoid", drop_path=drop_path_rate * index / len(cfg)))
            ch = out
        self.blocks = nn.Sequential(*layers)
        last = 6 * ch
        self.head = ConvBnAct(ch, last, 1, act="hardswish")
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = make_divisible(head_chs * width_mult)
        self.pre_logits = nn.Sequential(nn.Linear(last, self.num_features), make_activation("hardswish"))
        self.classifier = ClassifierHead(self.num_features, num_classes, pool="", drop_rate=drop_rate)
        _init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pre_logits(self.pool(x).flatten(1))
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_model
def mobilenet_v1(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> MobileNetV1:
    return MobileNetV1(num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def mobilenet_v2(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> MobileNetV2:
    return MobileNetV2(num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def mobilenet_v3_large(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> MobileNetV3:
    return MobileNetV3(V3_LARGE, 1280, num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def mobilenet_v3_small(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> MobileNetV3:
    return MobileNetV3(V3_SMALL, 1024, num_classes=num_classes, in_chans=in_chans, **kwargs)


default_cfgs = {
    "mobilenet_v1": replace(IMAGENET_CFG, classifier="classifier", interpolation="bicubic",
                            weights="timm:mobilenetv1_100"),
    "mobilenet_v2": torchvision_cfg("mobilenet_v2", "mobilenet_v2-b0353104.pth", "classifier"),
    "mobilenet_v3_large": torchvision_cfg("mobilenet_v3_large", "mobilenet_v3_large-8738ca79.pth", "classifier"),
    "mobilenet_v3_small": torchvision_cfg("mobilenet_v3_small", "mobilenet_v3_small-047dcff4.pth", "classifier"),
}

# torchvision's `mobilenet_v2`: `features.0` stem (`.0` conv, `.1` BN), `features.1..17` inverted residuals whose
# `conv` is a Sequential: [expand ConvBNReLU6 `conv.0` (absent in block 1, expansion 1)], depthwise ConvBNReLU6,
# projection conv, projection BN; `features.18` the 1×1 conv to 1280 (`.0`, `.1`); `classifier.1` the linear
# layer (`classifier.0` is the dropout). nivalis: `stem`, `blocks.b.conv_pw|conv_dw|conv_pwl` (each `.0` conv,
# `.1` BN), `head`, `classifier`.
#
# torchvision's `mobilenet_v3_*` (BatchNorm eps 1e-3, momentum 0.01): `features.0` stem; `features.b+1.block` =
# [expand conv-BN (absent when the expanded width equals the input)], depthwise conv-BN, [SqueezeExcitation
# `fc1`/`fc2`], projection conv-BN; the last `features.N` is the 1×1 conv to 6× the last width; `classifier.0`
# the 1280/1024 linear layer (nivalis `pre_logits.0`), `classifier.3` the class layer.


def _v2_block(m, model: nn.Module) -> str:
    b, part, k, leaf = int(m[1]), m[2], int(m[3]), m[4]
    expand = not isinstance(model.blocks[b].conv_pw, nn.Identity)
    first = 1 if expand else 0  # index of the depthwise unit inside torchvision's `conv`
    if part == "conv_pw":
        return f"features.{b + 1}.conv.0.{k}.{leaf}"
    if part == "conv_dw":
        return f"features.{b + 1}.conv.{first}.{k}.{leaf}"
    return f"features.{b + 1}.conv.{first + 1 + k}.{leaf}"  # projection conv, then its BN


def _v3_block(m, model: nn.Module) -> str:
    b, part, sub, leaf = int(m[1]), m[2], m[3], m[4]
    block = model.blocks[b]
    dw = 0 if isinstance(block.conv_pw, nn.Identity) else 1
    se = 0 if isinstance(block.se, nn.Identity) else 1
    unit = {"conv_pw": 0, "conv_dw": dw, "se": dw + 1, "conv_pwl": dw + 1 + se}[part]
    return f"features.{b + 1}.block.{unit}.{sub}.{leaf}"


def _to_torchvision(name: str, model: nn.Module) -> str:
    """MobileNetV2 or V3 name → torchvision's (they share the stem and the 1×1 head, `features.0` and last)."""
    v3 = isinstance(model, MobileNetV3)
    classifier = ((r"pre_logits\.0\.(weight|bias)", r"classifier.0.\1"), (r"classifier\.(weight|bias)",
                  r"classifier.3.\1")) if v3 else ((r"classifier\.(weight|bias)", r"classifier.1.\1"),)
    blocks = ((r"blocks\.(\d+)\.(conv_pw|conv_dw|se|conv_pwl)\.(\w+)\.(\w+)", lambda m: _v3_block(m, model)) if v3
              else (r"blocks\.(\d+)\.(conv_pw|conv_dw|conv_pwl)\.(\d)\.(\w+)", lambda m: _v2_block(m, model)))
    return first_match(name, (
        TORCHVISION_STEM,
        (r"head\.(\d)\.(\w+)", lambda m: f"features.{len(model.blocks) + 1}.{m[1]}.{m[2]}"),
        *classifier,
        blocks,
    ))


# timm's `mobilenetv1_100` (an EfficientNet-builder network, ReLU6 throughout): `conv_stem` + `bn1`, then
# `blocks.s.j` in five stages of 1, 2, 2, 6, 2 DepthwiseSeparableConv blocks (the block that changes width opens
# a stage), each `conv_dw` + `bn1`, `conv_pw` + `bn2`; no head convolution; `classifier`. nivalis: `stem.0|1`,
# `blocks.b.conv_dw|conv_pw` (`.0` conv, `.1` BN), `classifier`.
_TIMM_V1_UNIT = {("conv_dw", "0"): "conv_dw", ("conv_dw", "1"): "bn1", ("conv_pw", "0"): "conv_pw",
                 ("conv_pw", "1"): "bn2"}


def _v1_stage_index(model: nn.Module) -> list[tuple[int, int]]:
    """(stage, index in stage) of every block: a new stage starts with each block that changes the width."""
    where, stage, j = [], -1, 0
    for block in model.blocks:
        if block.conv_dw[0].in_channels != block.conv_pw[0].out_channels or stage < 0:
            stage, j = stage + 1, 0
        where.append((stage, j))
        j += 1
    return where


def _v1_to_timm(name: str, model: nn.Module) -> str:
    def block(m) -> str:
        stage, j = _v1_stage_index(model)[int(m[1])]
        return f"blocks.{stage}.{j}.{_TIMM_V1_UNIT[m[2], m[3]]}.{m[4]}"

    return first_match(name, (
        (r"stem\.0\.(\w+)", r"conv_stem.\1"),
        (r"stem\.1\.(\w+)", r"bn1.\1"),
        (r"blocks\.(\d+)\.(conv_dw|conv_pw)\.(\d)\.(\w+)", block),
    ))


published_weights = {
    MobileNetV1: PublishedWeights({"timm": (_v1_to_timm, {"act": "relu6"})}),
    MobileNetV2: PublishedWeights({"torchvision": (_to_torchvision, {})}),
    MobileNetV3: PublishedWeights({"torchvision": (_to_torchvision, {"eps": 1e-3, "momentum": 0.01})}),
}
