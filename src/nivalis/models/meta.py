"""Shape-only builds on the meta device: exact parameter and FLOP counts without memory or weight init.

A ResNet-152 or VGG-19 costs hundreds of MB and seconds to build for real; on the meta device with the
weight initialisers switched off it is built in milliseconds, and `FlopCounterMode` counts from shapes
alone, so the FLOPs equal `nivalis.profile.count` on real tensors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from nivalis.models.registry import create_model

_INITIALISERS = ("kaiming_normal_", "kaiming_uniform_", "normal_", "uniform_", "trunc_normal_", "zeros_", "ones_",
                 "constant_", "xavier_uniform_", "xavier_normal_", "orthogonal_")


@contextmanager
def _meta_without_init() -> Iterator[None]:
    # Random initialisers on meta tensors go through slow Python reference kernels and produce nothing.
    def keep(tensor, *args, **kwargs):
        return tensor

    patches = {name: keep for name in _INITIALISERS if hasattr(nn.init, name)}
    with mock.patch.multiple(nn.init, **patches), torch.device("meta"):
        yield


def build_meta(name: str, **kwargs) -> nn.Module:
    """The registered model `name` with parameters on the meta device (shapes only, uninitialised)."""
    with _meta_without_init():
        return create_model(name, **kwargs)


def param_count(name: str, **kwargs) -> int:
    """Exact number of parameters of `create_model(name, **kwargs)`."""
    return sum(p.numel() for p in build_meta(name, **kwargs).parameters())


def meta_counts(name: str, input_shape: tuple[int, ...] | None = None, **kwargs) -> dict[str, int | None]:
    """{"params", "flops"} of `create_model(name, **kwargs)`; FLOPs at batch 1 in eval mode (None without a shape)."""
    model = build_meta(name, **kwargs)
    params = sum(p.numel() for p in model.parameters())
    if input_shape is None:
        return {"params": params, "flops": None}
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *input_shape, device="meta"))
    return {"params": params, "flops": int(counter.get_total_flops())}
