"""Shared checks for the zoo tests: exact counts on the meta device, forward + backward on small inputs."""

from __future__ import annotations

import torch

from nivalis.profile.meta import meta_counts as _meta_counts


def meta_counts(name: str, input_shape: tuple[int, ...] | None = None, **kwargs) -> tuple[int, int | None]:
    """(params, FLOPs at batch 1) from a shape-only build (`nivalis.profile.meta`); FLOPs None without a shape."""
    counts = _meta_counts(name, input_shape, **kwargs)
    return counts["params"], counts["flops"]


def forward_backward(model: torch.nn.Module, x: torch.Tensor, out_shape: tuple[int, ...]) -> None:
    """Train-mode forward has `out_shape`, is finite, and every parameter receives a finite gradient."""
    model.train()
    y = model(x)
    assert tuple(y.shape) == out_shape
    assert torch.isfinite(y).all()
    y.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient reached {missing[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
