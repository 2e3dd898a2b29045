"""Inception family (seed 001 "Inception networks"): GoogLeNet, Inception v3, Inception-ResNet-v2.

* GoogLeNet / Inception v1 (Szegedy et al. 2015, Table 1): 7×7/2 → max-pool → 1×1 → 3×3 → max-pool →
  Inception 3a, 3b → max-pool → 4a-4e → max-pool → 5a, 5b → global pool → dropout → FC. Two auxiliary
  classifiers on 4a and 4d are optional (`aux_logits`, off by default; the paper weights their loss 0.3).
* Inception v3 (Szegedy et al. 2016): a stem of 3×3 convolutions, 3 × InceptionA (35×35), a reduction,
  4 × InceptionC with factorised 1×7/7×1 convolutions (17×17), a reduction, 2 × InceptionE (8×8); the
  auxiliary head on the 17×17 grid is on by default. Native input 299×299.
* Inception-ResNet-v2 (Szegedy et al. 2017): the v3-style stem, 10 × Block35, Reduction-A, 20 × Block17,
  Reduction-B, 10 × Block8, 1×1 conv to 1536, global pool, FC. Native input 299×299; it accepts down to
  75×75 (seed 002 uses 76×76 windows).

Module equations are in `nivalis.layers.inception` / `nivalis.layers.inception_resnet`.

`forward(x)` always returns the main logits (one tensor, so every engine loss and the ONNX export work
unchanged); `forward_with_aux(x)` returns `(logits, [aux_logits, ...])` for a loss that also trains
the auxiliary heads. Under DDP, train with `aux_logits=False` or use `forward_with_aux`, since otherwise the
auxiliary parameters receive no gradient.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn as nn

from nivalis.layers.classifier import ClassifierHead, ClassifierMixin
from nivalis.layers.inception import (
    InceptionA,
    InceptionAux,
    InceptionB,
    InceptionC,
    InceptionD,
    InceptionE,
    InceptionV1,
    InceptionV3Aux,
    conv,
)
from nivalis.layers.inception_resnet import Block8, Block17, Block35, Mixed5b, Mixed6a, Mixed7a
from nivalis.models.configs import (
    IMAGENET_CFG,
    IMAGENET_MEAN,
    IMAGENET_STD,
    INCEPTION_MEAN,
    INCEPTION_STD,
    torchvision_cfg,
)
from nivalis.models.registry import register_model
from nivalis.models.weights import PublishedWeights

__all__ = ["GoogLeNet", "InceptionV3", "InceptionResNetV2"]

# GoogLeNet Table 1: #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj.
GOOGLENET_MODULES = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64), "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}


def _input(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """torchvision's `transform_input` (on for its pretrained GoogLeNet / Inception v3): the weights were trained
    on pixels scaled to [-1, 1], so an ImageNet-normalised RGB input is rescaled per channel,
    x' = x·σ/0.5 + (μ − 0.5)/0.5."""
    if not model.transform_input:
        return x
    return torch.cat([x[:, c:c + 1] * (IMAGENET_STD[c] / 0.5) + (IMAGENET_MEAN[c] - 0.5) / 0.5 for c in range(3)], 1)


def _init_truncated(module: nn.Module, std: float) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, ClassifierHead)) and m.weight is not None:
            nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class GoogLeNet(ClassifierMixin, nn.Module):
    """GoogLeNet (Inception v1).

    Args:
        aux_logits: build the two auxiliary classifiers (used only by `forward_with_aux`).
        wide_kernel: kernel of the "5×5" branches (3 = torchvision layout; 5 = the paper's).
        drop_rate: dropout before the classifier (0.4 in the paper, 0.2 in torchvision).
        transform_input: rescale ImageNet-normalised input to [-1, 1] first (torchvision's pretrained weights;
            `nivalis.models.weights` switches it on when it loads them).

    Shapes: (N, in_chans, H, W) → (N, num_classes); H, W ≥ 32.
    """

    classifier_name = "fc"

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, aux_logits: bool = False, wide_kernel: int = 3,
                 drop_rate: float = 0.2, transform_input: bool = False):
        super().__init__()
        self.transform_input = transform_input

        def module(in_chs: int, name: str) -> InceptionV1:
            return InceptionV1(in_chs, *GOOGLENET_MODULES[name], wide_kernel=wide_kernel)

        self.stem = nn.Sequential(conv(in_chans, 64, 7, stride=2), nn.MaxPool2d(3, stride=2, ceil_mode=True),
                                  conv(64, 64, 1), conv(64, 192, 3), nn.MaxPool2d(3, stride=2, ceil_mode=True))
        self.stage3 = nn.Sequential(module(192, "3a"), module(256, "3b"), nn.MaxPool2d(3, stride=2, ceil_mode=True))
        self.stage4a = module(480, "4a")
        self.stage4bd = nn.Sequential(module(512, "4b"), module(512, "4c"), module(512, "4d"))
        self.stage4e = nn.Sequential(module(528, "4e"), nn.MaxPool2d(2, stride=2, ceil_mode=True))
        self.stage5 = nn.Sequential(module(832, "5a"), module(832, "5b"))
        self.aux1 = InceptionAux(512, num_classes) if aux_logits and num_classes else None
        self.aux2 = InceptionAux(528, num_classes) if aux_logits and num_classes else None
        self.num_features = 1024
        self.fc = ClassifierHead(1024, num_classes, drop_rate=drop_rate)
        _init_truncated(self, 0.01)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage4bd(self.stage4a(self.stage3(self.stem(_input(self, x)))))
        return self.stage5(self.stage4e(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        a = self.stage4a(self.stage3(self.stem(_input(self, x))))
        d = self.stage4bd(a)
        logits = self.fc(self.stage5(self.stage4e(d)))
        aux = [self.aux1(a), self.aux2(d)] if self.aux1 is not None else []
        return logits, aux


class InceptionV3(ClassifierMixin, nn.Module):
    """Inception v3 (Szegedy et al. 2016, Table 1 with the released model's widths).

    Shapes: (N, in_chans, H, W) → (N, num_classes); native 299×299, accepts ≥ 75×75 (the auxiliary head
    needs ≥ 299×299).
    """

    classifier_name = "fc"

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, aux_logits: bool = True, drop_rate: float = 0.5,
                 transform_input: bool = False):
        super().__init__()
        self.transform_input = transform_input
        self.stem = nn.Sequential(
            conv(in_chans, 32, 3, stride=2, padding=0), conv(32, 32, 3, padding=0), conv(32, 64, 3),
            nn.MaxPool2d(3, stride=2), conv(64, 80, 1), conv(80, 192, 3, padding=0), nn.MaxPool2d(3, stride=2),
        )
        self.mixed_35 = nn.Sequential(InceptionA(192, 32), InceptionA(256, 64), InceptionA(288, 64))
        self.mixed_17 = nn.Sequential(InceptionB(288), InceptionC(768, 128), InceptionC(768, 160),
                                      InceptionC(768, 160), InceptionC(768, 192))
        self.aux = InceptionV3Aux(768, num_classes) if aux_logits and num_classes else None
        self.mixed_8 = nn.Sequential(InceptionD(768), InceptionE(1280), InceptionE(2048))
        self.num_features = 2048
        self.fc = ClassifierHead(2048, num_classes, drop_rate=drop_rate)
        _init_truncated(self, 0.1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.mixed_8(self.mixed_17(self.mixed_35(self.stem(_input(self, x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        grid17 = self.mixed_17(self.mixed_35(self.stem(_input(self, x))))
        logits = self.fc(self.mixed_8(grid17))
        return logits, ([self.aux(grid17)] if self.aux is not None else [])


class InceptionResNetV2(ClassifierMixin, nn.Module):
    """Inception-ResNet-v2 (Szegedy et al. 2017, Figs. 15-19).

    Shapes: (N, in_chans, H, W) → (N, num_classes); native 299×299, accepts ≥ 75×75.
    """

    classifier_name = "fc"

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0,
                 scales: tuple[float, float, float] = (0.17, 0.10, 0.20)):
        super().__init__()
        self.stem = nn.Sequential(
            conv(in_chans, 32, 3, stride=2, padding=0), conv(32, 32, 3, padding=0), conv(32, 64, 3),
            nn.MaxPool2d(3, stride=2), conv(64, 80, 1), conv(80, 192, 3, padding=0), nn.MaxPool2d(3, stride=2),
            Mixed5b(192),
        )
        self.repeat_35 = nn.Sequential(*[Block35(320, scales[0]) for _ in range(10)])
        self.reduction_a = Mixed6a(320)
        self.repeat_17 = nn.Sequential(*[Block17(1088, scales[1]) for _ in range(20)])
        self.reduction_b = Mixed7a(1088)
        self.repeat_8 = nn.Sequential(*[Block8(2080, scales[2]) for _ in range(9)], Block8(2080, final=True))
        self.head = conv(2080, 1536, 1)
        self.num_features = 1536
        self.fc = ClassifierHead(1536, num_classes, drop_rate=drop_rate)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduction_a(self.repeat_35(self.stem(x)))
        x = self.reduction_b(self.repeat_17(x))
        return self.head(self.repeat_8(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


@register_model
def googlenet(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> GoogLeNet:
    return GoogLeNet(num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def inception_v3(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> InceptionV3:
    return InceptionV3(num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def inception_resnet_v2(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> InceptionResNetV2:
    return InceptionResNetV2(num_classes=num_classes, in_chans=in_chans, **kwargs)


default_cfgs = {
    "googlenet": torchvision_cfg("googlenet", "googlenet-1378be20.pth"),
    "inception_v3": torchvision_cfg("inception_v3", "inception_v3_google-0cc3c7bd.pth", input_size=(3, 299, 299)),
    "inception_resnet_v2": replace(IMAGENET_CFG, input_size=(3, 299, 299), mean=INCEPTION_MEAN, std=INCEPTION_STD,
                                   interpolation="bicubic", weights="timm:inception_resnet_v2.tf_in1k",
                                   file="model.safetensors (timm/inception_resnet_v2.tf_in1k)"),
}

# ConvBnAct (`.0` conv, `.1` BN) → torchvision's and timm's BasicConv2d (`.conv`, `.bn`), applied last
_BASIC_CONV: tuple[tuple[str, str], ...] = (
    (r"\.0\.weight$", ".conv.weight"),
    (r"\.1\.(weight|bias|running_mean|running_var|num_batches_tracked)$", r".bn.\1"),
)

# Inception-ResNet-v2 → timm's `inception_resnet_v2` (the TF-slim port): stem `conv2d_1a`, `conv2d_2a`,
# `conv2d_2b`, `conv2d_3b`, `conv2d_4a`, `mixed_5b`; `repeat.i` (10 × Block35), `mixed_6a`, `repeat_1.i` (20 ×
# Block17), `mixed_7a`, `repeat_2.i` (9 × Block8), `block8` (the last, no ReLU), `conv2d_7b`, `classif`. Every
# BasicConv2d is `.conv` + `.bn` (BatchNorm eps 1e-3); each residual block's linear 1×1 is `.conv2d`. Branch
# names (`branch0`..`branch3`, Sequential indices) are the same as nivalis's.
_IRV2_RULES: tuple[tuple[str, str], ...] = (
    (r"^stem\.0\.", "conv2d_1a."),
    (r"^stem\.1\.", "conv2d_2a."),
    (r"^stem\.2\.", "conv2d_2b."),
    (r"^stem\.4\.", "conv2d_3b."),
    (r"^stem\.5\.", "conv2d_4a."),
    (r"^stem\.7\.", "mixed_5b."),
    (r"^repeat_35\.", "repeat."),
    (r"^reduction_a\.", "mixed_6a."),
    (r"^repeat_17\.", "repeat_1."),
    (r"^reduction_b\.", "mixed_7a."),
    (r"^repeat_8\.9\.", "block8."),
    (r"^repeat_8\.", "repeat_2."),
    (r"^head\.", "conv2d_7b."),
    (r"^fc\.", "classif."),
    (r"\.up\.", ".conv2d."),
    *_BASIC_CONV,
)

# GoogLeNet → torchvision `googlenet`: conv1-3, inception3a..5b, aux1/aux2 (conv, fc1, fc2), fc.
_GOOGLENET_RULES: tuple[tuple[str, str], ...] = (
    (r"^stem\.0\.", "conv1."),
    (r"^stem\.2\.", "conv2."),
    (r"^stem\.3\.", "conv3."),
    (r"^stage3\.0\.", "inception3a."),
    (r"^stage3\.1\.", "inception3b."),
    (r"^stage4a\.", "inception4a."),
    (r"^stage4bd\.0\.", "inception4b."),
    (r"^stage4bd\.1\.", "inception4c."),
    (r"^stage4bd\.2\.", "inception4d."),
    (r"^stage4e\.0\.", "inception4e."),
    (r"^stage5\.0\.", "inception5a."),
    (r"^stage5\.1\.", "inception5b."),
    *_BASIC_CONV,
)

# Inception v3 → torchvision `inception_v3`: Conv2d_1a_3x3 … Conv2d_4a_3x3, Mixed_5b-5d (InceptionA), Mixed_6a
# (B), Mixed_6b-6e (C), AuxLogits, Mixed_7a (D), Mixed_7b-7c (E), fc; nivalis numbers the convolutions of a
# branch as Sequential indices where torchvision suffixes them (`branch5x5.1` ↔ `branch5x5_2`).
_INCEPTION_V3_RULES: tuple[tuple[str, str], ...] = (
    (r"^stem\.0\.", "Conv2d_1a_3x3."),
    (r"^stem\.1\.", "Conv2d_2a_3x3."),
    (r"^stem\.2\.", "Conv2d_2b_3x3."),
    (r"^stem\.4\.", "Conv2d_3b_1x1."),
    (r"^stem\.5\.", "Conv2d_4a_3x3."),
    (r"^mixed_35\.0\.", "Mixed_5b."),
    (r"^mixed_35\.1\.", "Mixed_5c."),
    (r"^mixed_35\.2\.", "Mixed_5d."),
    (r"^mixed_17\.0\.", "Mixed_6a."),
    (r"^mixed_17\.1\.", "Mixed_6b."),
    (r"^mixed_17\.2\.", "Mixed_6c."),
    (r"^mixed_17\.3\.", "Mixed_6d."),
    (r"^mixed_17\.4\.", "Mixed_6e."),
    (r"^aux\.", "AuxLogits."),
    (r"^mixed_8\.0\.branch3x3\.0\.", "Mixed_7a.branch3x3_1."),
    (r"^mixed_8\.0\.branch3x3\.1\.", "Mixed_7a.branch3x3_2."),
    (r"^mixed_8\.0\.", "Mixed_7a."),
    (r"^mixed_8\.1\.", "Mixed_7b."),
    (r"^mixed_8\.2\.", "Mixed_7c."),
    *[(rf"\.branch5x5\.{i}\.", f".branch5x5_{i + 1}.") for i in range(2)],
    *[(rf"\.branch3x3dbl\.{i}\.", f".branch3x3dbl_{i + 1}.") for i in range(3)],
    *[(rf"\.branch7x7\.{i}\.", f".branch7x7_{i + 1}.") for i in range(3)],
    *[(rf"\.branch7x7dbl\.{i}\.", f".branch7x7dbl_{i + 1}.") for i in range(5)],
    *[(rf"\.branch7x7x3\.{i}\.", f".branch7x7x3_{i + 1}.") for i in range(4)],
    # InceptionE: nivalis's `branch3x3dbl_1` Sequential holds torchvision's `branch3x3dbl_1` (1×1) and
    # `branch3x3dbl_2` (3×3), each a BasicConv2d. The `.1.` unit is renamed first: the rules apply one after the
    # other, and `branch3x3dbl_1.0.1.` (the 1×1's BN) must not become `branch3x3dbl_1.1.` and then `_2`.
    (r"^(Mixed_7[bc])\.branch3x3dbl_1\.1\.", r"\1.branch3x3dbl_2."),
    (r"^(Mixed_7[bc])\.branch3x3dbl_1\.0\.", r"\1.branch3x3dbl_1."),
    (r"\.branch_pool\.1\.", ".branch_pool."),
    *_BASIC_CONV,
)

# torchvision's pretrained GoogLeNet / Inception v3: BN eps 1e-3 and `transform_input` on. Their auxiliary
# classifiers are re-initialised with the main one when the classes differ, and ignored in a file when the
# model is built without them.
_TORCHVISION_TF = {"eps": 1e-3, "transform_input": True}
published_weights = {
    GoogLeNet: PublishedWeights({"torchvision": (_GOOGLENET_RULES, _TORCHVISION_TF)},
                                aux_heads=("aux1.fc2", "aux2.fc2"), aux_file_names=r"^aux[12]\."),
    InceptionV3: PublishedWeights({"torchvision": (_INCEPTION_V3_RULES, _TORCHVISION_TF)}, aux_heads=("aux.fc",),
                                  aux_file_names=r"^AuxLogits\."),
    InceptionResNetV2: PublishedWeights({"timm": (_IRV2_RULES, {"eps": 1e-3})}),
}
