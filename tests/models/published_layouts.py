"""State-dict names of the published models, written out the way each reference's module tree names them.

Each function lists the names of one reference architecture (torchvision `models/*.py`, timm `models/*.py`,
insightface `recognition/arcface_torch/backbones/iresnet.py`) from its module tree: a conv + BN unit is the
reference's own (`.conv`/`.bn` children of a BasicConv2d, `.0`/`.1` of a Conv2dNormActivation, or flat
`convK`/`bnK` attributes). The names come in the order of nivalis's modules, which follows the reference's
registration order except where a function says so; the tests pair the k-th name with nivalis's k-th tensor.
Nothing here is derived from nivalis's name maps. `save_reference` writes a model's tensors under such names, as
the reference distributes its files.
"""

from __future__ import annotations

import re

import torch
import torch.nn as nn
from safetensors.torch import save_file

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def conv(path: str, bias: bool = False) -> list[str]:
    return [f"{path}.weight"] + ([f"{path}.bias"] if bias else [])


def bn(path: str) -> list[str]:
    return [f"{path}.{leaf}" for leaf in BN]


def affine(path: str) -> list[str]:
    """A layer with weight and bias only: Linear, LayerNorm, a conv with bias."""
    return [f"{path}.weight", f"{path}.bias"]


def basic_conv(path: str) -> list[str]:
    """torchvision's / timm's BasicConv2d and timm's ConvNormAct: `.conv` + `.bn`."""
    return conv(f"{path}.conv") + bn(f"{path}.bn")


def conv_norm_act(path: str) -> list[str]:
    """torchvision's Conv2dNormActivation (an nn.Sequential): `.0` conv, `.1` BN."""
    return conv(f"{path}.0") + bn(f"{path}.1")


def units(path: str, *children: str) -> list[str]:
    return [name for child in children for name in basic_conv(f"{path}.{child}")]


# ---------------------------------------------------------------- torchvision

def torchvision_resnet(layers: tuple[int, ...], bottleneck: bool, se: bool = False) -> list[str]:
    """torchvision `resnet*` / timm `resnet*`, `seresnet*` (timm's `se.fc1|fc2` are 1×1 convs with bias)."""
    names = conv("conv1") + bn("bn1")
    for stage, depth in enumerate(layers, start=1):
        for b in range(depth):
            block = f"layer{stage}.{b}"
            for k in (1, 2, 3) if bottleneck else (1, 2):
                names += conv(f"{block}.conv{k}") + bn(f"{block}.bn{k}")
            if se:
                names += affine(f"{block}.se.fc1") + affine(f"{block}.se.fc2")
            if b == 0 and (stage > 1 or bottleneck):
                names += conv(f"{block}.downsample.0") + bn(f"{block}.downsample.1")
    return names + affine("fc")


VGG_CFGS = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg13": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}


def torchvision_vgg(cfg: tuple, batch_norm: bool) -> list[str]:
    """`features` holds conv [, BN], ReLU per number and a max-pool per "M"; `classifier.0|3|6` the linears."""
    names, i = [], 0
    for v in cfg:
        if v == "M":
            i += 1
            continue
        names += conv(f"features.{i}", bias=True)
        if batch_norm:
            names += bn(f"features.{i + 1}")
        i += 3 if batch_norm else 2
    return names + affine("classifier.0") + affine("classifier.3") + affine("classifier.6")


def torchvision_alexnet() -> list[str]:
    return [n for i in (0, 3, 6, 8, 10) for n in conv(f"features.{i}", bias=True)] + [
        n for i in (1, 4, 6) for n in affine(f"classifier.{i}")]


def torchvision_densenet(blocks: tuple[int, ...]) -> list[str]:
    names = conv("features.conv0") + bn("features.norm0")
    for b, depth in enumerate(blocks, start=1):
        for layer in range(1, depth + 1):
            p = f"features.denseblock{b}.denselayer{layer}"
            names += bn(f"{p}.norm1") + conv(f"{p}.conv1") + bn(f"{p}.norm2") + conv(f"{p}.conv2")
        if b < len(blocks):
            names += bn(f"features.transition{b}.norm") + conv(f"features.transition{b}.conv")
    return names + bn("features.norm5") + affine("classifier")


def torchvision_googlenet(aux_logits: bool) -> list[str]:
    names = units("", "conv1", "conv2", "conv3")
    for module in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"):
        names += units(f"inception{module}", "branch1", "branch2.0", "branch2.1", "branch3.0", "branch3.1",
                       "branch4.1")
    if aux_logits:
        for aux in ("aux1", "aux2"):
            names += basic_conv(f"{aux}.conv") + affine(f"{aux}.fc1") + affine(f"{aux}.fc2")
    return [n.lstrip(".") for n in names] + affine("fc")


def torchvision_inception_v3(aux_logits: bool = True) -> list[str]:
    names = units("", "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3")
    for block in ("Mixed_5b", "Mixed_5c", "Mixed_5d"):  # InceptionA
        names += units(block, "branch1x1", "branch5x5_1", "branch5x5_2", "branch3x3dbl_1", "branch3x3dbl_2",
                       "branch3x3dbl_3", "branch_pool")
    names += units("Mixed_6a", "branch3x3", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3")  # InceptionB
    for block in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):  # InceptionC
        names += units(block, "branch1x1", *[f"branch7x7_{i}" for i in (1, 2, 3)],
                       *[f"branch7x7dbl_{i}" for i in (1, 2, 3, 4, 5)], "branch_pool")
    if aux_logits:
        names += units("AuxLogits", "conv0", "conv1") + affine("AuxLogits.fc")
    names += units("Mixed_7a", "branch3x3_1", "branch3x3_2", *[f"branch7x7x3_{i}" for i in (1, 2, 3, 4)])  # D
    for block in ("Mixed_7b", "Mixed_7c"):  # InceptionE
        names += units(block, "branch1x1", "branch3x3_1", "branch3x3_2a", "branch3x3_2b", "branch3x3dbl_1",
                       "branch3x3dbl_2", "branch3x3dbl_3a", "branch3x3dbl_3b", "branch_pool")
    return [n.lstrip(".") for n in names] + affine("fc")


def torchvision_mobilenet_v2() -> list[str]:
    """`features.i.conv`: [expand Conv2dNormActivation (t ≠ 1)], depthwise one, then a plain conv and its BN."""
    names, i = conv_norm_act("features.0"), 1
    for t, n in ((1, 1), (6, 2), (6, 3), (6, 4), (6, 3), (6, 3), (6, 1)):  # (t, n) of Table 2
        for _ in range(n):
            p, k = f"features.{i}.conv", int(t != 1)
            names += (conv_norm_act(f"{p}.0") if t != 1 else []) + conv_norm_act(f"{p}.{k}")
            names += conv(f"{p}.{k + 1}") + bn(f"{p}.{k + 2}")
            i += 1
    return names + conv_norm_act(f"features.{i}") + affine("classifier.1")


# torchvision's `_mobilenet_v3_conf` rows as (input width, expanded width, SE)
TV_V3_LARGE = ((16, 16, False), (16, 64, False), (24, 72, False), (24, 72, True), (40, 120, True), (40, 120, True),
               (40, 240, False), (80, 200, False), (80, 184, False), (80, 184, False), (80, 480, True),
               (112, 672, True), (112, 672, True), (160, 960, True), (160, 960, True))
TV_V3_SMALL = ((16, 16, True), (16, 72, False), (24, 88, False), (24, 96, True), (40, 240, True), (40, 240, True),
               (40, 120, True), (48, 144, True), (48, 288, True), (96, 576, True), (96, 576, True))


def torchvision_mobilenet_v3(rows: tuple) -> list[str]:
    """`features.i.block`: [expand (expanded ≠ input)], depthwise, [SqueezeExcitation fc1/fc2], projection."""
    names = conv_norm_act("features.0")
    for i, (cin, exp, se) in enumerate(rows, start=1):
        p, u = f"features.{i}.block", 0
        if exp != cin:
            names, u = names + conv_norm_act(f"{p}.0"), 1
        names += conv_norm_act(f"{p}.{u}")
        if se:
            u += 1
            names += affine(f"{p}.{u}.fc1") + affine(f"{p}.{u}.fc2")
        names += conv_norm_act(f"{p}.{u + 1}")
    return names + conv_norm_act(f"features.{len(rows) + 1}") + affine("classifier.0") + affine("classifier.3")


def torchvision_efficientnet_b0() -> list[str]:
    """`features.s.j.block`: [expand (t ≠ 1)], depthwise, SqueezeExcitation, projection; `features.8` the head."""
    names = conv_norm_act("features.0")
    for s, (t, n) in enumerate(((1, 1), (6, 2), (6, 2), (6, 3), (6, 3), (6, 4), (6, 1)), start=1):
        for j in range(n):
            p, u = f"features.{s}.{j}.block", int(t != 1)
            names += (conv_norm_act(f"{p}.0") if t != 1 else []) + conv_norm_act(f"{p}.{u}")
            names += affine(f"{p}.{u + 1}.fc1") + affine(f"{p}.{u + 1}.fc2") + conv_norm_act(f"{p}.{u + 2}")
    return names + conv_norm_act("features.8") + affine("classifier.1")


def torchvision_shufflenet_v2() -> list[str]:
    """`branch1` = dw conv, BN, 1×1 conv, BN (strided units); `branch2` = 1×1, BN, ReLU, dw, BN, 1×1, BN, ReLU."""
    names = conv_norm_act("conv1")
    for stage, repeats in zip((2, 3, 4), (4, 8, 4)):
        for u in range(repeats):
            p = f"stage{stage}.{u}"
            if u == 0:
                names += conv(f"{p}.branch1.0") + bn(f"{p}.branch1.1") + conv(f"{p}.branch1.2") + bn(f"{p}.branch1.3")
            for c, b in ((0, 1), (3, 4), (5, 6)):
                names += conv(f"{p}.branch2.{c}") + bn(f"{p}.branch2.{b}")
    return names + conv_norm_act("conv5") + affine("fc")


def _convnext(depths: tuple[int, ...], stem: str, downsample: str, block: str, children: tuple[str, ...],
              head: tuple[str, str]) -> list[str]:
    """ConvNeXt in one reference's names: `downsample` / `block` are templates of stage s (and block j), `children`
    the block's γ, depthwise conv, LayerNorm and two linears, `head` the final LayerNorm and the class layer."""
    names = conv(f"{stem}.0", bias=True) + affine(f"{stem}.1")
    for s, depth in enumerate(depths):
        if s:
            down = downsample.format(s=s, s2=2 * s)
            names += affine(f"{down}.0") + conv(f"{down}.1", bias=True)
        for j in range(depth):
            p = block.format(s=s, s2=2 * s + 1, j=j)
            gamma, dw, *linears = children
            names += [f"{p}.{gamma}"] + conv(f"{p}.{dw}", bias=True) + [n for c in linears for n in affine(f"{p}.{c}")]
    return names + affine(head[0]) + affine(head[1])


def torchvision_convnext(depths: tuple[int, ...]) -> list[str]:
    """CNBlock: `layer_scale` (its own parameter, first), `block.0` dw conv, `.2` LayerNorm, `.3`/`.5` linears."""
    return _convnext(depths, "features.0", "features.{s2}", "features.{s2}.{j}",
                     ("layer_scale", "block.0", "block.2", "block.3", "block.5"), ("classifier.0", "classifier.2"))


# ---------------------------------------------------------------- timm

def timm_convnext(depths: tuple[int, ...]) -> list[str]:
    return _convnext(depths, "stem", "stages.{s}.downsample", "stages.{s}.blocks.{j}",
                     ("gamma", "conv_dw", "norm", "mlp.fc1", "mlp.fc2"), ("head.norm", "head.fc"))


def timm_inception_resnet_v2() -> list[str]:
    names = units("", "conv2d_1a", "conv2d_2a", "conv2d_2b", "conv2d_3b", "conv2d_4a")
    names += units("mixed_5b", "branch0", "branch1.0", "branch1.1", "branch2.0", "branch2.1", "branch2.2",
                   "branch3.1")
    for i in range(10):
        names += units(f"repeat.{i}", "branch0", "branch1.0", "branch1.1", "branch2.0", "branch2.1", "branch2.2")
        names += affine(f"repeat.{i}.conv2d")
    names += units("mixed_6a", "branch0", "branch1.0", "branch1.1", "branch1.2")
    for i in range(20):
        names += units(f"repeat_1.{i}", "branch0", "branch1.0", "branch1.1", "branch1.2")
        names += affine(f"repeat_1.{i}.conv2d")
    names += units("mixed_7a", "branch0.0", "branch0.1", "branch1.0", "branch1.1", "branch2.0", "branch2.1",
                   "branch2.2")
    for block in [f"repeat_2.{i}" for i in range(9)] + ["block8"]:
        names += units(block, "branch0", "branch1.0", "branch1.1", "branch1.2") + affine(f"{block}.conv2d")
    return [n.lstrip(".") for n in names] + basic_conv("conv2d_7b") + affine("classif")


def timm_mobilenetv1_100() -> list[str]:
    """`blocks.s.j` in stages of 1, 2, 2, 6, 2 DepthwiseSeparableConv: `conv_dw`, `bn1`, `conv_pw`, `bn2`."""
    names = conv("conv_stem") + bn("bn1")
    for s, depth in enumerate((1, 2, 2, 6, 2)):
        for j in range(depth):
            p = f"blocks.{s}.{j}"
            names += conv(f"{p}.conv_dw") + bn(f"{p}.bn1") + conv(f"{p}.conv_pw") + bn(f"{p}.bn2")
    return names + affine("classifier")


def timm_repvgg(depths: tuple[int, ...]) -> list[str]:
    """ByobNet: `stem` and `stages.s.j` RepVggBlocks (`conv_kxk`, `conv_1x1` ConvNormAct, `identity` BN where the
    stride is 1); `head.fc`. timm registers `identity` before the two convolutions; listed here after them."""
    def block(p: str, identity: bool) -> list[str]:
        return basic_conv(f"{p}.conv_kxk") + basic_conv(f"{p}.conv_1x1") + (bn(f"{p}.identity") if identity else [])

    names = block("stem", False)
    for s, depth in enumerate(depths):
        for j in range(depth):
            names += block(f"stages.{s}.{j}", j > 0)
    return names + affine("head.fc")


# ---------------------------------------------------------------- insightface

def insightface_iresnet(layers: tuple[int, ...]) -> list[str]:
    """IResNet: `conv1`, `bn1`, `prelu`; IBasicBlock `bn1`, `conv1`, `bn2`, `prelu`, `conv2`, `bn3`,
    `downsample.0|1` (first block of each stage); `bn2`, `fc`, `features`."""
    names = conv("conv1") + bn("bn1") + ["prelu.weight"]
    for stage, depth in enumerate(layers, start=1):
        for b in range(depth):
            p = f"layer{stage}.{b}"
            names += bn(f"{p}.bn1") + conv(f"{p}.conv1") + bn(f"{p}.bn2") + [f"{p}.prelu.weight"]
            names += conv(f"{p}.conv2") + bn(f"{p}.bn3")
            if b == 0:
                names += conv(f"{p}.downsample.0") + bn(f"{p}.downsample.1")
    return names + bn("bn2") + affine("fc") + bn("features")


# ---------------------------------------------------------------- files

def randomise(model: nn.Module) -> nn.Module:
    """Random values everywhere (BN statistics included) so that a misplaced tensor changes the output."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=gen) * 0.1)
                if name.endswith("running_var"):
                    t.abs_().add_(0.5)
    return model.eval()


def save_reference(model: nn.Module, names: list[str], path, safetensors: bool | None = None) -> None:
    """`model`'s k-th tensor saved as `names[k]`, in the reference's own file conventions: torchvision's DenseNet
    files keep the legacy `denselayerL.norm.1` / `conv.2` names and its ConvNeXt γ is (C, 1, 1)."""
    state = dict(zip(names, (t.clone() for t in model.state_dict().values()), strict=True))
    state = {re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", k): v for k, v in state.items()}
    state = {k: v.reshape(-1, 1, 1) if k.endswith("layer_scale") else v for k, v in state.items()}
    if safetensors if safetensors is not None else str(path).endswith(".safetensors"):
        save_file(state, str(path))
    else:
        torch.save(state, path)
