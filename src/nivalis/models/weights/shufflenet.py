"""ShuffleNet V2: nivalis names → torchvision's `shufflenet_v2_x*`.

torchvision: `conv1.0|1` (stem conv, BN), `stage2|3|4.u` units with `branch1` = dw conv `.0`, BN `.1`, 1×1 conv
`.2`, BN `.3` (strided units only) and `branch2` = 1×1 conv `.0`, BN `.1`, dw conv `.3`, BN `.4`, 1×1 conv `.5`,
BN `.6`; `conv5.0|1`; `fc`. nivalis: `stem.0` (a ConvBnAct: `.0` conv, `.1` BN), `stages.s.u.branch1.i` and
`branch2.i` as ConvBnAct units (`.0` conv, `.1` BN), `head`, `fc`.
"""

from __future__ import annotations

import re

import torch.nn as nn

_BRANCH2_UNIT = (0, 3, 5)  # torchvision's index of each conv in branch2 (ReLUs sit between)


def to_torchvision(name: str, model: nn.Module) -> str:
    m = re.fullmatch(r"stem\.0\.(\d)\.(\w+)", name)
    if m:
        return f"conv1.{m[1]}.{m[2]}"
    m = re.fullmatch(r"head\.(\d)\.(\w+)", name)
    if m:
        return f"conv5.{m[1]}.{m[2]}"
    m = re.fullmatch(r"stages\.(\d)\.(\d+)\.branch([12])\.(\d)\.(\d)\.(\w+)", name)
    if not m:
        return name
    stage, unit, branch, i, k, leaf = int(m[1]), m[2], m[3], int(m[4]), int(m[5]), m[6]
    first = 2 * i if branch == "1" else _BRANCH2_UNIT[i]
    return f"stage{stage + 2}.{unit}.branch{branch}.{first + k}.{leaf}"


SOURCES = {"torchvision": (to_torchvision, {})}
