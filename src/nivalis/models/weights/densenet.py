"""DenseNet-BC: nivalis names → torchvision's `densenet121/169/201`.

torchvision: `features.conv0`, `features.norm0`, `features.denseblockB.denselayerL.norm1|conv1|norm2|conv2`
(B, L from 1), `features.transitionT.norm|conv`, `features.norm5`, `classifier`. The files torchvision
distributes still use the older names `denselayerL.norm.1` / `conv.2` (torchvision renames them on load);
`FILE_RENAMES` does the same here. nivalis: `stem.0|1`, `features.2i.j` dense layers (same leaf names),
`features.2i+1.0|2` transitions (BN, conv), the final BN `features.(2·blocks − 1)`, `classifier`.
"""

from __future__ import annotations

import re

import torch.nn as nn


def to_torchvision(name: str, model: nn.Module) -> str:
    m = re.fullmatch(r"stem\.([01])\.(\w+)", name)
    if m:
        return f"features.{'conv0' if m[1] == '0' else 'norm0'}.{m[2]}"
    m = re.fullmatch(r"features\.(\d+)\.(\d+)\.(norm1|conv1|norm2|conv2)\.(\w+)", name)
    if m:
        return f"features.denseblock{int(m[1]) // 2 + 1}.denselayer{int(m[2]) + 1}.{m[3]}.{m[4]}"
    m = re.fullmatch(r"features\.(\d+)\.([02])\.(\w+)", name)
    if m:
        return f"features.transition{int(m[1]) // 2 + 1}.{'norm' if m[2] == '0' else 'conv'}.{m[3]}"
    m = re.fullmatch(r"features\.(\d+)\.(\w+)", name)
    if m:
        return f"features.norm5.{m[2]}"
    return name


#: the distributed files' legacy names → torchvision's current ones (applied to the file's names first)
FILE_RENAMES: tuple[tuple[str, str], ...] = (
    (r"(denselayer\d+\.(?:norm|conv))\.([12])\.", r"\1\2."),
)

SOURCES = {"torchvision": (to_torchvision, {})}
