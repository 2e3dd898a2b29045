"""AlexNet (Krizhevsky et al. 2012; seed 001 "AlexNet"): five convolutions, three fully connected layers.

Conv 11×11/4 (64) → [LRN] → overlapping max-pool 3×3/2 → conv 5×5 (192) → [LRN] → max-pool → conv 3×3
(384, 256, 256) → max-pool → 6×6 average → dropout → FC 4096 → dropout → FC 4096 → FC classes, ReLU
everywhere. Widths are the single-GPU layout (64/192/384/256/256) that the torchvision/"one weird
trick" version uses, which has 61,100,840 parameters at 1000 classes. Local response normalisation
(seed 001):

.. math::
    b^i_{x,y} = a^i_{x,y} \\Big/ \\Big(k + \\alpha \\sum_{j=i-n/2}^{i+n/2} (a^j_{x,y})^2\\Big)^\\beta,
    \\qquad k = 2,\\ n = 5,\\ \\alpha = 10^{-4},\\ \\beta = 0.75

is optional (`lrn=True`); overlapping pooling (3×3 windows, stride 2) and dropout 0.5 are the paper's.
"""

from __future__ import annotations

import torch.nn as nn

from nivalis.layers.classifier import ClassifierMixin
from nivalis.models.configs import torchvision_cfg
from nivalis.models.fc_head import FullyConnectedHead
from nivalis.models.registry import register_model
from nivalis.models.weights import PublishedWeights

__all__ = ["AlexNet"]


class AlexNet(FullyConnectedHead, ClassifierMixin, nn.Module):
    """AlexNet.

    Args:
        lrn: add the paper's local response normalisation after the first two ReLUs.
        drop_rate: dropout before each of the first two fully connected layers (0.5).
        pool_size: side of the adaptive average pool before the classifier (6 at 224×224; smaller inputs
            work too, and `pool_size=1` gives a compact head for small images).

    Shapes: (N, in_chans, H, W) → (N, num_classes); H, W ≥ 63.
    """

    classifier_name = "classifier.6"

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, lrn: bool = False, drop_rate: float = 0.5,
                 pool_size: int = 6):
        super().__init__()

        def norm() -> nn.Module:
            return nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0) if lrn else nn.Identity()

        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 64, 11, stride=4, padding=2), nn.ReLU(inplace=True), norm(),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), norm(),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
        )
        self.pool = nn.AdaptiveAvgPool2d(pool_size)
        self.classifier = nn.Sequential(
            nn.Dropout(drop_rate), nn.Linear(256 * pool_size * pool_size, 4096), nn.ReLU(inplace=True),
            nn.Dropout(drop_rate), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes) if num_classes else nn.Identity(),
        )
        self.num_features, self.num_classes = 4096, num_classes


@register_model
def alexnet(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> AlexNet:
    return AlexNet(num_classes=num_classes, in_chans=in_chans, **kwargs)


default_cfgs = {"alexnet": torchvision_cfg("alexnet", "alexnet-owt-7be5be79.pth", "classifier.6")}

# torchvision's `features` holds conv, ReLU, max-pool only: the five convolutions are `features.0|3|6|8|10`.
# nivalis keeps a (parameter-free, Identity unless `lrn=True`) normalisation slot after the first two ReLUs,
# so its convolutions are `features.0|4|8|10|12`. The classifiers agree (`classifier.1|4|6`). Only `lrn=False`
# (torchvision's layout) has a published counterpart.
_TORCHVISION_RULES: tuple[tuple[str, str], ...] = (
    (r"^features\.4\.", "features.3."),
    (r"^features\.8\.", "features.6."),
    (r"^features\.10\.", "features.8."),
    (r"^features\.12\.", "features.10."),
)

published_weights = {AlexNet: PublishedWeights({"torchvision": (_TORCHVISION_RULES, {})})}
