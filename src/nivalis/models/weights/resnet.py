"""ResNet / ResNeXt / Wide ResNet / SE-ResNet: nivalis names → torchvision's (and timm's, which are the same).

Published layout (torchvision `resnet50`, timm `resnet50`, `seresnet50`): `conv1`, `bn1`, `layerL.B.convK` /
`layerL.B.bnK` (K = 1, 2[, 3]), `layerL.B.downsample.0` (1×1 conv) / `.1` (BN), `layerL.B.se.fc1|fc2`
(timm's SE-ResNets), `fc`. nivalis wraps each convolution with its BN in one `ConvBnAct` (`.0` conv, `.1` BN)
and calls the projection `shortcut`. Only the ImageNet stem has a published counterpart.
"""

RULES: tuple[tuple[str, str], ...] = (
    (r"^stem\.0\.0\.", "conv1."),
    (r"^stem\.0\.1\.", "bn1."),
    (r"\.conv(\d)\.0\.weight$", r".conv\1.weight"),
    (r"\.conv(\d)\.1\.", r".bn\1."),
    (r"\.shortcut\.", ".downsample."),
)

#: published source → (name rules, BatchNorm settings of the reference)
SOURCES = {"torchvision": (RULES, {}), "timm": (RULES, {})}
