"""MobileNetV2: nivalis names → torchvision's `mobilenet_v2`.

torchvision: `features.0` stem (`.0` conv, `.1` BN), `features.1..17` inverted residuals whose `conv` is a
Sequential: [expand ConvBNReLU6 `conv.0` (absent in block 1, expansion 1)], depthwise ConvBNReLU6, projection
conv, projection BN; `features.18` the 1×1 conv to 1280 (`.0`, `.1`); `classifier.1` the linear layer
(`classifier.0` is the dropout). nivalis: `stem`, `blocks.b.conv_pw|conv_dw|conv_pwl` (each `.0` conv,
`.1` BN), `head`, `classifier`.
"""

from __future__ import annotations

import re

import torch.nn as nn


def to_torchvision(name: str, model: nn.Module) -> str:
    m = re.fullmatch(r"stem\.(\d)\.(\w+)", name)
    if m:
        return f"features.0.{m[1]}.{m[2]}"
    m = re.fullmatch(r"head\.(\d)\.(\w+)", name)
    if m:
        return f"features.{len(model.blocks) + 1}.{m[1]}.{m[2]}"
    m = re.fullmatch(r"classifier\.(weight|bias)", name)
    if m:
        return f"classifier.1.{m[1]}"
    m = re.fullmatch(r"blocks\.(\d+)\.(conv_pw|conv_dw|conv_pwl)\.(\d)\.(\w+)", name)
    if not m:
        return name
    b, part, k, leaf = int(m[1]), m[2], int(m[3]), m[4]
    expand = not isinstance(model.blocks[b].conv_pw, nn.Identity)
    first = 1 if expand else 0  # index of the depthwise unit inside torchvision's `conv`
    if part == "conv_pw":
        return f"features.{b + 1}.conv.0.{k}.{leaf}"
    if part == "conv_dw":
        return f"features.{b + 1}.conv.{first}.{k}.{leaf}"
    return f"features.{b + 1}.conv.{first + 1 + k}.{leaf}"  # projection conv, then its BN


SOURCES = {"torchvision": (to_torchvision, {})}


def v3_to_torchvision(name: str, model: nn.Module) -> str:
    """MobileNetV3 large/small → torchvision's `mobilenet_v3_*` (BatchNorm eps 1e-3, momentum 0.01).

    torchvision: `features.0` stem; `features.b+1.block` = [expand conv-BN (absent when the expanded width
    equals the input)], depthwise conv-BN, [SqueezeExcitation `fc1`/`fc2`], projection conv-BN; the last
    `features.N` is the 1×1 conv to 6× the last width; `classifier.0` the 1280/1024 linear layer (nivalis
    `pre_logits.0`), `classifier.3` the class layer.
    """
    m = re.fullmatch(r"stem\.(\d)\.(\w+)", name)
    if m:
        return f"features.0.{m[1]}.{m[2]}"
    m = re.fullmatch(r"head\.(\d)\.(\w+)", name)
    if m:
        return f"features.{len(model.blocks) + 1}.{m[1]}.{m[2]}"
    m = re.fullmatch(r"pre_logits\.0\.(weight|bias)", name)
    if m:
        return f"classifier.0.{m[1]}"
    m = re.fullmatch(r"classifier\.(weight|bias)", name)
    if m:
        return f"classifier.3.{m[1]}"
    m = re.fullmatch(r"blocks\.(\d+)\.(conv_pw|conv_dw|se|conv_pwl)\.(\w+)\.(\w+)", name)
    if not m:
        return name
    b, part, sub, leaf = int(m[1]), m[2], m[3], m[4]
    block = model.blocks[b]
    dw = 0 if isinstance(block.conv_pw, nn.Identity) else 1
    se = 0 if isinstance(block.se, nn.Identity) else 1
    unit = {"conv_pw": 0, "conv_dw": dw, "se": dw + 1, "conv_pwl": dw + 1 + se}[part]
    return f"features.{b + 1}.block.{unit}.{sub}.{leaf}"


V3_SOURCES = {"torchvision": (v3_to_torchvision, {"eps": 1e-3, "momentum": 0.01})}
