"""Shape-only builds on the meta device: exact parameter and FLOP counts without memory or weight init.

A registered model is built under `torch.device("meta")`, so every parameter is a tensor with a shape
and no storage, and `FlopCounterMode` counts a forward pass from shapes alone: the counts equal
`nivalis.profile.count` on real tensors.

Why a `TorchFunctionMode` (`_SkipInitOnMeta`) rather than patching `torch.nn.init`: the weight
initialisers still run on meta tensors, where they produce nothing but cost most of the build (each
random fill on a meta tensor is dispatched like a real kernel). Replacing the `nn.init` functions with
`mock.patch` would switch initialisation off for the whole process, other threads included, for as long
as a build runs. A torch-function mode is pushed on the current thread's mode stack only, and inside it
only in-place value fills (`normal_`, `uniform_`, `fill_`, `zero_`, ...) whose target is a meta tensor
are skipped; any tensor with storage is initialised as usual. The mode's Python hook is called for
every torch function during the build, which costs more than the global patch did but far less than
initialising meta tensors (the before/after figures are in the commit that introduced this module).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

from nivalis.models import create_model
from nivalis.profile.counts import count, count_params

__all__ = ["build_meta", "check_fits", "machine_memory_bytes", "memory_bytes", "meta_counts", "param_count", "shape_only"]

# In-place ops that only write values (never shapes): on a meta tensor they have nothing to write.
_VALUE_FILLS = frozenset(getattr(torch.Tensor, name) for name in (
    "normal_", "uniform_", "fill_", "zero_", "erfinv_", "mul_", "add_", "sub_", "div_", "clamp_", "copy_",
    "exponential_", "bernoulli_", "random_", "log_normal_", "geometric_", "cauchy_"))
# `nn.init` functions that dispatch through torch functions themselves: skipping them skips their fan maths too.
_INITIALISERS = frozenset(f for f in (nn.init.uniform_, nn.init.normal_, nn.init.constant_, nn.init.kaiming_uniform_))


class _SkipInitOnMeta(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if (func in _VALUE_FILLS or func in _INITIALISERS) and args and isinstance(args[0], torch.Tensor) \
                and args[0].is_meta:
            return args[0]
        return func(*args, **(kwargs or {}))


@contextmanager
def shape_only() -> Iterator[None]:
    """Build modules on the meta device, without running their initialisers (this thread only)."""
    with torch.device("meta"), _SkipInitOnMeta():
        yield


def build_meta(name: str, **kwargs) -> nn.Module:
    """The registered model `name` with parameters on the meta device (shapes only, uninitialised)."""
    with shape_only():
        return create_model(name, **kwargs)


def param_count(name: str, **kwargs) -> int:
    """Exact number of parameters of `create_model(name, **kwargs)`."""
    return count_params(build_meta(name, **kwargs))


def meta_counts(name: str, input_shape: tuple[int, ...] | None = None, **kwargs) -> dict[str, int | None]:
    """{"params", "flops"} of `create_model(name, **kwargs)`; FLOPs at batch 1 in eval mode (None without a shape)."""
    model = build_meta(name, **kwargs)
    if input_shape is None:
        return {"params": count_params(model), "flops": None}
    return count(model, input_shape)


def memory_bytes(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Bytes a float32 forward pass of `model` (on the meta device) at batch 1 needs: its weights plus every output
    it produces along the way (an upper bound of the live activations)."""
    outputs = [0]

    def add(module, inputs, output):
        if isinstance(output, torch.Tensor):
            outputs[0] += output.numel()

    # leaf modules only: a container's output is its last child's, counted once
    hooks = [m.register_forward_hook(add) for m in model.modules() if next(m.children(), None) is None]
    try:
        with torch.no_grad():
            model.eval()(torch.empty((1, *input_shape), device="meta"))
    finally:
        for hook in hooks:
            hook.remove()
    return 4 * (count_params(model) + outputs[0])


def machine_memory_bytes() -> int:
    """Physical memory of this machine (what a run can at most hold)."""
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(name: str, input_shape: tuple[int, ...], *, what: str = "", **kwargs) -> int:
    """Refuse in one line, before anything is allocated, a build of `name` (with `kwargs`, e.g. num_classes) whose
    weights and batch-1 activations need more than 80 % of this machine's memory; returns the estimate in bytes."""
    from nivalis.errors import UserError

    try:
        need = memory_bytes(build_meta(name, **kwargs), input_shape)
    except RuntimeError:
        return 0  # the shape does not fit the model: the caller's own check names that
    have = machine_memory_bytes()
    if need > 0.8 * have:
        settings = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        raise UserError(f"{what or name}: {name} ({settings}) at input {'x'.join(map(str, input_shape))} needs about "
                        f"{need / 2**30:,.1f} GiB, more than this machine's {have / 2**30:.0f} GiB can hold")
    return need
