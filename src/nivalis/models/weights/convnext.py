"""ConvNeXt: nivalis names → torchvision's `convnext_*` and timm's `convnext_*`.

torchvision: `features.0` stem (`.0` 4×4 conv, `.1` LayerNorm2d); `features.2s+1.j.block` for stage s, block
j: `.0` depthwise conv, `.2` LayerNorm, `.3` / `.5` the two linear layers, and `layer_scale` of shape (C, 1, 1);
`features.2s` (s ≥ 1) the downsampling (`.0` LayerNorm2d, `.1` 2×2 conv); `classifier.0` LayerNorm2d,
`classifier.2` linear. timm: `stem.0|1`, `stages.s.downsample.0|1`, `stages.s.blocks.j.conv_dw|norm|mlp.fc1|
mlp.fc2|gamma` (shape (C,)), `head.norm`, `head.fc`. nivalis: `stem.0|1`, `stages.s.0` the downsampling
(Identity in stage 0), `stages.s.(j+1).conv_dw|norm|fc1|fc2|gamma`, `norm`, `head`.
"""

from __future__ import annotations

import re

import torch.nn as nn

_TV_BLOCK = {"conv_dw": "block.0", "norm": "block.2", "fc1": "block.3", "fc2": "block.5"}


def to_torchvision(name: str, model: nn.Module) -> str:
    m = re.fullmatch(r"stem\.(\d)\.(\w+)", name)
    if m:
        return f"features.0.{m[1]}.{m[2]}"
    m = re.fullmatch(r"norm\.(\w+)", name)
    if m:
        return f"classifier.0.{m[1]}"
    m = re.fullmatch(r"head\.(\w+)", name)
    if m:
        return f"classifier.2.{m[1]}"
    m = re.fullmatch(r"stages\.(\d)\.0\.(\d)\.(\w+)", name)
    if m:
        return f"features.{2 * int(m[1])}.{m[2]}.{m[3]}"
    m = re.fullmatch(r"stages\.(\d)\.(\d+)\.gamma", name)
    if m:
        return f"features.{2 * int(m[1]) + 1}.{int(m[2]) - 1}.layer_scale"
    m = re.fullmatch(r"stages\.(\d)\.(\d+)\.(conv_dw|norm|fc1|fc2)\.(\w+)", name)
    if m:
        return f"features.{2 * int(m[1]) + 1}.{int(m[2]) - 1}.{_TV_BLOCK[m[3]]}.{m[4]}"
    return name


def to_timm(name: str, model: nn.Module) -> str:
    m = re.fullmatch(r"stages\.(\d)\.0\.(\d)\.(\w+)", name)
    if m:
        return f"stages.{m[1]}.downsample.{m[2]}.{m[3]}"
    m = re.fullmatch(r"stages\.(\d)\.(\d+)\.(fc1|fc2)\.(\w+)", name)
    if m:
        return f"stages.{m[1]}.blocks.{int(m[2]) - 1}.mlp.{m[3]}.{m[4]}"
    m = re.fullmatch(r"stages\.(\d)\.(\d+)\.(.+)", name)
    if m:
        return f"stages.{m[1]}.blocks.{int(m[2]) - 1}.{m[3]}"
    m = re.fullmatch(r"(norm|head)\.(\w+)", name)
    if m:
        return f"head.{'norm' if m[1] == 'norm' else 'fc'}.{m[2]}"
    return name


#: layer scale: torchvision stores γ as (C, 1, 1), nivalis and timm as (C,)
RESHAPE = (r"\.gamma$",)

SOURCES = {"torchvision": (to_torchvision, {}), "timm": (to_timm, {})}
