"""LeNet-5 (LeCun et al. 1998, seed 001 "LeNet-5"): the first convolutional digit reader.

C1 conv 5×5 → 6 maps, S2 2×2 subsampling, C3 conv 5×5 → 16 maps, S4 2×2 subsampling,
C5 fully connected 400 → 120, F6 120 → 84, output 84 → classes. At 1×32×32 and 10 classes this
has 61,706 parameters. Choices (the 1998 paper's details that the lecture leaves open): C3 is fully
connected to S2 (not the paper's sparse table), subsampling is 2×2 max pooling without the
trainable coefficient, ReLU activations (the form LeNet-5 is usually taught and trained in today),
and a linear output instead of RBF units. `act="tanh", pool="avg"` gives the 1998 flavour; both
variants have the same parameter count.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from nivalis.layers import ClassifierMixin, make_activation
from nivalis.models.configs import DefaultCfg
from nivalis.models.registry import register_model


class LeNet5(ClassifierMixin, nn.Module):
    """LeNet-5 (C1-S2-C3-S4 → C5-F6-output, see the module docstring); `pool` is "max" or "avg"."""

    classifier_name = "classifier.5"

    def __init__(self, num_classes: int = 10, in_chans: int = 1, input_size: int = 32, act: str = "relu",
                 pool: str = "max"):
        super().__init__()
        if pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', not {pool!r}")
        subsample = nn.MaxPool2d if pool == "max" else nn.AvgPool2d
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 6, 5), make_activation(act), subsample(2),
            nn.Conv2d(6, 16, 5), make_activation(act), subsample(2),
        )
        side = ((input_size - 4) // 2 - 4) // 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * side * side, 120), make_activation(act),
            nn.Linear(120, 84), make_activation(act),
            nn.Linear(84, num_classes) if num_classes else nn.Identity(),
        )
        self.num_features, self.num_classes = 84, num_classes

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """C5 → F6 (the 84 pre-logits) → output layer."""
        x = self.classifier[:5](x)
        return x if pre_logits else self.classifier[5](x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_model
def lenet5(num_classes: int = 10, in_chans: int = 1, **kwargs) -> LeNet5:
    return LeNet5(num_classes=num_classes, in_chans=in_chans, **kwargs)


default_cfgs = {"lenet5": DefaultCfg(input_size=(1, 32, 32), num_classes=10, mean=None, std=None,
                                     classifier="classifier.5")}
