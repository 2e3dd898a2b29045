"""ArcFace's improved-residual face backbones (Deng et al. 2019): LResNet-E-IR, which NAR refines (seed 004 §4.1).

.. math::
    y = x_s + \\mathrm{BN}\\big(W_2 * \\mathrm{PReLU}(\\mathrm{BN}(W_1 * \\mathrm{BN}(x)))\\big)

"IR" is the improved residual unit above: BN → conv 3×3 → BN → PReLU → conv 3×3 (stride) → BN, added
to the shortcut `x_s` (identity, or 1×1 strided conv + BN when the shape changes) with no activation
after the addition. "L" is the 112×112 input with a stride-1 3×3 stem (conv → BN → PReLU), so the
four stages (64, 128, 256, 512 channels, each starting with stride 2) end at 7×7. "E" is the embedding
head: BN → dropout → flatten → fully connected 512·7·7 → 512 → BN1d (its scale fixed at 1, as in
ArcFace's PyTorch release). Units per stage: LResNet34E-IR (3, 4, 6, 3), LResNet50E-IR (3, 4, 14, 3),
LResNet100E-IR (3, 13, 30, 3). `num_classes > 0` adds a linear classifier on the embedding (plain
softmax training; ArcFace's additive angular margin head is a loss, not part of the backbone);
`num_classes=0` returns the 512-d embedding.

Both 3×3 units of every IR block are built through the `conv3x3` factory of `nivalis.layers.residual`
(conv → BN, the PReLU stays in the block) that the `conv3x3_for_block` hook returns for that block, so
NAR's operators (24 codes per block or 48 per slot for LResNet50E-IR) come in through that hook
(`nivalis.nas.space.build_refined`). Convolutions start from
Kaiming-normal (fan-out) weights like the zoo's ResNet; ArcFace's release draws N(0, 0.1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn as nn

from nivalis.layers.classifier import ClassifierMixin
from nivalis.layers.residual import ConvFactory, conv3x3_bn, downsample_shortcut
from nivalis.models.configs import DefaultCfg
from nivalis.models.registry import register_model
from nivalis.models.weights import PublishedWeights, rule_map

__all__ = ["IRBlock", "IResNet"]


class IRBlock(nn.Module):
    """Improved residual unit: BN → [conv 3×3 → BN] → PReLU → [conv 3×3 (stride) → BN] + shortcut.

    Args:
        in_chs: input channels.
        planes: output channels of both 3×3 units (the first one changes the channel count).
        stride: stride of the second 3×3 unit (ArcFace puts it there, not on the first).
        conv3x3: factory of the two bracketed units (default conv 3×3 → BN).
    """

    expansion = 1

    def __init__(self, in_chs: int, planes: int, stride: int = 1, conv3x3: ConvFactory | None = None):
        super().__init__()
        conv3x3 = conv3x3 or conv3x3_bn
        self.bn1 = nn.BatchNorm2d(in_chs)
        self.conv1 = conv3x3(in_chs, planes, stride=1, groups=1, act=None)
        self.prelu = nn.PReLU(planes)
        self.conv2 = conv3x3(planes, planes, stride=stride, groups=1, act=None)
        self.shortcut = downsample_shortcut(in_chs, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.prelu(self.conv1(self.bn1(x))))
        return y + self.shortcut(x)


class IResNet(ClassifierMixin, nn.Module):
    """LResNet-E-IR: stride-1 stem, four IR stages (stride 2 each), BN-dropout-FC-BN embedding head.

    Args:
        layers: IR blocks per stage, e.g. (3, 4, 14, 3) for LResNet50E-IR.
        num_classes: classifier outputs on top of the embedding (0 → the embedding itself).
        in_chans: input channels.
        input_size: side of the square input (112 for faces); fixes the FC's input (side / 16)².
        embedding_size: dimension of the face embedding (512).
        drop_rate: dropout before the FC of the embedding head.
        width_mult: multiplier of every stage's channels (1.0 = published widths).
        conv3x3_for_block: the hook for the 3×3 units: called once per IR block, in build order, with the
            block's index (0 … sum(layers) − 1); returns that block's `ConvFactory` (None → conv 3×3 → BN).

    Shapes: (N, in_chans, input_size, input_size) → (N, num_classes or embedding_size).

    The head stays explicit rather than a `nivalis.layers.ClassifierHead`: the "E" embedding normalises and
    flattens the whole 7×7 map (no global pooling) and ends in BatchNorm1d, and the optional classifier on the
    embedding is a bare linear layer (no pooling, no dropout), so the helper would add nothing but a rename.
    """

    classifier_name = "classifier"

    def __init__(self, layers: Sequence[int], num_classes: int = 0, in_chans: int = 3, input_size: int = 112,
                 embedding_size: int = 512, drop_rate: float = 0.0, width_mult: float = 1.0,
                 conv3x3_for_block: Callable[[int], ConvFactory] | None = None):
        super().__init__()
        if input_size % 16:
            raise ValueError(f"input_size must be a multiple of 16 (four stride-2 stages), got {input_size}")
        chans = [max(1, round(c * width_mult)) for c in (64, 128, 256, 512)]
        self.stem = nn.Sequential(nn.Conv2d(in_chans, chans[0], 3, 1, 1, bias=False), nn.BatchNorm2d(chans[0]),
                                  nn.PReLU(chans[0]))
        in_chs, index, stages = chans[0], 0, []
        for depth, planes in zip(layers, chans):
            blocks = []
            for i in range(depth):
                factory = conv3x3_for_block(index) if conv3x3_for_block else None
                blocks.append(IRBlock(in_chs, planes, stride=2 if i == 0 else 1, conv3x3=factory))
                in_chs, index = planes, index + 1
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        side = input_size // 16
        self.bn2 = nn.BatchNorm2d(in_chs)
        self.dropout = nn.Dropout(drop_rate) if drop_rate else nn.Identity()
        self.fc = nn.Linear(in_chs * side * side, embedding_size)
        self.features = nn.BatchNorm1d(embedding_size)
        self.num_features = embedding_size
        self.classifier = nn.Linear(embedding_size, num_classes) if num_classes else nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.features.weight.requires_grad_(False)  # ArcFace keeps the embedding BN's scale at 1

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The embedding_size-d face embedding ("E" head)."""
        x = self.dropout(self.bn2(self.forward_features(x))).flatten(1)
        return self.features(self.fc(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """The embedding (`pre_logits`) or the class scores, from `forward_features`' map."""
        x = self.features(self.fc(self.dropout(self.bn2(x)).flatten(1)))
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


def _create_iresnet(layers: Sequence[int], **kwargs) -> IResNet:
    return IResNet(layers, **kwargs)


@register_model
def lresnet34e_ir(num_classes: int = 0, in_chans: int = 3, **kwargs) -> IResNet:
    return _create_iresnet((3, 4, 6, 3), num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def lresnet50e_ir(num_classes: int = 0, in_chans: int = 3, **kwargs) -> IResNet:
    """LResNet50E-IR, ArcFace's face backbone that NAR refines (seed 004 §4.1)."""
    return _create_iresnet((3, 4, 14, 3), num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def lresnet100e_ir(num_classes: int = 0, in_chans: int = 3, **kwargs) -> IResNet:
    return _create_iresnet((3, 13, 30, 3), num_classes=num_classes, in_chans=in_chans, **kwargs)


# The face backbones (ArcFace LResNet-E-IR) read aligned 112×112 crops and end in a 512-d embedding; insightface's
# arcface_torch trains them as `iresnetNN` and saves the backbone's state dict as `backbone.pth`.
default_cfgs = {name: DefaultCfg(input_size=(3, 112, 112), num_classes=0, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                                 classifier="classifier", weights=f"insightface:iresnet{depth}", file="backbone.pth")
                for name, depth in (("lresnet34e_ir", 34), ("lresnet50e_ir", 50), ("lresnet100e_ir", 100))}

# insightface `recognition/arcface_torch/backbones/iresnet.py`: stem `conv1`, `bn1`, `prelu`; `layerL.B` IBasicBlocks
# with `bn1`, `conv1`, `bn2`, `prelu`, `conv2`, `bn3` and `downsample.0|1` (1×1 conv, BN; the first block of every
# stage); the head `bn2`, `dropout`, `fc`, `features` (BatchNorm1d). nivalis: `stem.0|1|2`, each block's `conv1` /
# `conv2` a unit (`.0` conv, `.1` BN) and `shortcut` for `downsample`; the block's `bn1`, `prelu` and the head
# have insightface's names. The classifier on the embedding (num_classes > 0) has no counterpart: it stays fresh.
_TO_INSIGHTFACE = (
    (r"stem\.0\.(\w+)", r"conv1.\1"),
    (r"stem\.1\.(\w+)", r"bn1.\1"),
    (r"stem\.2\.(\w+)", r"prelu.\1"),
    (r"(layer\d\.\d+)\.conv([12])\.0\.(\w+)", r"\1.conv\2.\3"),
    (r"(layer\d\.\d+)\.conv([12])\.1\.(\w+)", lambda m: f"{m[1]}.bn{int(m[2]) + 1}.{m[3]}"),
    (r"(layer\d\.\d+)\.shortcut\.(\d)\.(\w+)", r"\1.downsample.\2.\3"),
)

published_weights = {IResNet: PublishedWeights({"insightface": (rule_map(_TO_INSIGHTFACE), {})})}
