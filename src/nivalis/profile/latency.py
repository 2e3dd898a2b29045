"""CPU latency of a PyTorch forward pass: median wall time of `runs` calls after `warmup` calls."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
import torch.nn as nn


def median_ms(call: Callable[[], object], *, runs: int, warmup: int) -> float:
    """Median wall time in milliseconds of `runs` calls of `call`, after `warmup` untimed calls."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


@torch.inference_mode()
def latency_ms(model: nn.Module, input_shape: tuple[int, ...], *, batch: int = 1, runs: int = 20,
               warmup: int = 3) -> float:
    was_training = model.training
    model.eval()
    x = torch.randn(batch, *input_shape)
    try:
        return median_ms(lambda: model(x), runs=runs, warmup=warmup)
    finally:
        model.train(was_training)
