"""EfficientNet-B0..B3: nivalis names → torchvision's `efficientnet_b*` (V1 weights, BatchNorm eps 1e-5).

torchvision: `features.0` stem (`.0` conv, `.1` BN); `features.s.j.block` for stage s = 1..7, block j, a
Sequential [expand conv-BN-SiLU (absent at expansion 1)], depthwise conv-BN-SiLU, SqueezeExcitation
(`fc1`, `fc2`), projection conv-BN; `features.8` the 1×1 conv to 1280; `classifier.1` the linear layer.
nivalis keeps the blocks flat (`blocks.b`); a stage starts where the output width changes.
"""

from __future__ import annotations

import re

import torch.nn as nn


def _stage_index(model: nn.Module) -> list[tuple[int, int]]:
    """(stage 1-based, index in stage) of every block; widths change exactly at stage boundaries."""
    where, stage, j, prev = [], 0, 0, None
    for block in model.blocks:
        if block.out_chs != prev:
            stage, j, prev = stage + 1, 0, block.out_chs
        where.append((stage, j))
        j += 1
    return where


def to_torchvision(name: str, model: nn.Module) -> str:
    m = re.fullmatch(r"stem\.(\d)\.(\w+)", name)
    if m:
        return f"features.0.{m[1]}.{m[2]}"
    m = re.fullmatch(r"classifier\.(weight|bias)", name)
    if m:
        return f"classifier.1.{m[1]}"
    where = _stage_index(model)
    m = re.fullmatch(r"head\.(\d)\.(\w+)", name)
    if m:
        return f"features.{where[-1][0] + 1}.{m[1]}.{m[2]}"
    m = re.fullmatch(r"blocks\.(\d+)\.(conv_pw|conv_dw|se|conv_pwl)\.(\w+)\.(\w+)", name)
    if not m:
        return name
    b, part, sub, leaf = int(m[1]), m[2], m[3], m[4]
    stage, j = where[b]
    dw = 1 if not isinstance(model.blocks[b].conv_pw, nn.Identity) else 0
    unit = {"conv_pw": 0, "conv_dw": dw, "se": dw + 1, "conv_pwl": dw + 2}[part]
    return f"features.{stage}.{j}.block.{unit}.{sub}.{leaf}"


SOURCES = {"torchvision": (to_torchvision, {})}
