"""The head of the AlexNet-era networks: pooled features through fully connected layers, the class layer last."""

from __future__ import annotations

import torch


class FullyConnectedHead:
    """Mixin for a network with `features`, `pool` and a `classifier` Sequential whose last module is the class layer.

    The pre-logits are the output of everything in `classifier` before that layer (timm's choice for VGG).
    """

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.classifier[:-1](self.pool(x).flatten(1))
        return x if pre_logits else self.classifier[-1](x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
