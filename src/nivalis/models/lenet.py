"""LeNet-5 (LeCun et al. 1998, seed 001 "LeNet-5"): the first convolutional digit reader.

C1 conv 5×5 → 6 maps, S2 2×2 subsampling, C3 conv 5×5 → 16 maps, S4 2×2 subsampling,
C5 fully connected 400 → 120, F6 120 → 84, output 84 → classes. At 1×32×32 and 10 classes this
has 61,706 parameters. Choices (the 1998 paper's details that the lecture leaves open): C3 is fully
connected to S2 (not the paper's sparse table), subsampling is 2×2 average pooling without the
trainable coefficient, tanh activations, and a linear output instead of RBF units.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from nivalis.models.registry import register_model


class LeNet5(nn.Module):
    def __init__(self, num_classes: int = 10, in_chans: int = 1, input_size: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 6, 5), nn.Tanh(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        )
        side = ((input_size - 4) // 2 - 4) // 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * side * side, 120), nn.Tanh(),
            nn.Linear(120, 84), nn.Tanh(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register_model
def lenet5(num_classes: int = 10, in_chans: int = 1, **kwargs) -> LeNet5:
    return LeNet5(num_classes=num_classes, in_chans=in_chans, **kwargs)
