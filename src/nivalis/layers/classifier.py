"""The classifier head every zoo family ends with: global pool → flatten → dropout → linear.

.. math::
    \\hat y = W\\, \\mathrm{dropout}_p\\Big(\\frac{1}{HW} \\sum_{i,j} x_{:,i,j}\\Big) + b

`ClassifierHead` owns the linear layer's `weight` and `bias` itself (pooling and dropout are functional,
they have no parameters), for two reasons:

- a family assigns the head under its historical attribute name (`fc`, `classifier` or `head`), so the
  state-dict names stay those of the published layouts (`fc.weight`, not `fc.fc.weight`) and checkpoint
  name maps need no special case for the head;
- the head is one leaf module, so `nivalis.profile.dataflow` lists its output (the logits) like any layer.

The weight and bias are taken from a freshly built `nn.Linear`, so they start from PyTorch's default
initialisation and consume the random stream exactly as the `nn.Linear` they replace. Which attribute of
a model is its classifier is recorded once per family, in the class attribute `classifier_name` (a dotted
module path, see `get_classifier`).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ClassifierHead", "ClassifierMixin", "get_classifier"]

_POOLS = ("avg", "max", "")


class ClassifierHead(nn.Module):
    """Global pool → flatten → dropout → linear; `num_classes=0` returns the pooled features.

    Args:
        in_features: channels of the feature map (or features of the flat input when `pool=""`).
        num_classes: outputs of the linear layer; 0 → no linear layer (the head returns its input features).
        pool: "avg" (global average), "max" (global max) or "" (no pooling: the input is flattened as it is,
            for heads that pool or normalise before, or that read a whole flattened map).
        drop_rate: dropout probability before the linear layer.

    Shapes: (N, C, H, W) or (N, C) → (N, num_classes), or (N, C·H·W) with `pool=""` → (N, num_classes);
    (N, features) when `num_classes=0`.
    """

    def __init__(self, in_features: int, num_classes: int, pool: str = "avg", drop_rate: float = 0.0):
        super().__init__()
        if pool not in _POOLS:
            raise ValueError(f"pool must be one of {_POOLS}, got {pool!r}")
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate}")
        self.in_features, self.pool, self.drop_rate = in_features, pool, drop_rate
        self.reset(num_classes)

    def reset(self, num_classes: int) -> None:
        """Replace the linear layer by a freshly initialised one with `num_classes` outputs (0 → none)."""
        if num_classes < 0:
            raise ValueError(f"num_classes must be ≥ 0, got {num_classes}")
        self.num_classes = num_classes
        if num_classes:
            like = getattr(self, "weight", None)
            kwargs = {"device": like.device, "dtype": like.dtype} if isinstance(like, torch.Tensor) else {}
            linear = nn.Linear(self.in_features, num_classes, **kwargs)
            self.weight, self.bias = linear.weight, linear.bias
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    @property
    def out_features(self) -> int:
        """Outputs of the linear layer (`nn.Linear`'s name, so initialisers written for it apply)."""
        return self.num_classes

    def pre_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled, flattened features the linear layer reads (no dropout)."""
        if self.pool and x.ndim == 4:
            x = F.adaptive_avg_pool2d(x, 1) if self.pool == "avg" else F.adaptive_max_pool2d(x, 1)
        return x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre_logits(x)
        if self.drop_rate:
            x = F.dropout(x, self.drop_rate, self.training)
        return F.linear(x, self.weight, self.bias) if self.weight is not None else x

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, num_classes={self.num_classes}, pool={self.pool!r}, "
                f"drop_rate={self.drop_rate}")


def get_classifier(model: nn.Module) -> nn.Module:
    """The module of `model` that produces its class scores, named by the family's `classifier_name`."""
    name = getattr(model, "classifier_name", None)
    if not name:
        raise AttributeError(f"{type(model).__name__} declares no classifier_name")
    return model.get_submodule(name)


class ClassifierMixin:
    """timm's classifier interface for a zoo family: `forward_features`, `forward_head`, `reset_classifier`.

    A family's `forward(x)` is `forward_head(forward_features(x))`. The defaults fit families whose
    `classifier_name` is a `ClassifierHead` reading the last feature map; the others override
    `forward_head` (and, when the class layer is not linear, `reset_classifier`). `num_features` is the
    width the class layer reads, so a removed classifier (`num_classes=0`) can be put back.
    """

    classifier_name: str
    num_features: int

    def get_classifier(self) -> nn.Module:
        return get_classifier(self)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Class scores from `forward_features`' output; `pre_logits=True` stops before the class layer."""
        head = get_classifier(self)
        return head.pre_logits(x) if pre_logits else head(x)

    def reset_classifier(self, num_classes: int) -> None:
        """A freshly initialised class layer with `num_classes` outputs; 0 removes it (pooled features out)."""
        if num_classes < 0:
            raise ValueError(f"num_classes must be ≥ 0, got {num_classes}")
        head = get_classifier(self)
        like = next(iter(self.parameters()))  # type: ignore[attr-defined]
        if isinstance(head, ClassifierHead):
            head.reset(num_classes)
            head.to(device=like.device, dtype=like.dtype)
        else:
            new = self._new_classifier(num_classes).to(device=like.device, dtype=like.dtype)
            self.set_submodule(self.classifier_name, new)  # type: ignore[attr-defined]
        self.num_classes = num_classes

    def _new_classifier(self, num_classes: int) -> nn.Module:
        return nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
