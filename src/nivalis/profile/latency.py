"""CPU latency of a PyTorch forward pass: median wall time of `runs` calls after `warmup` calls."""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn as nn


@torch.inference_mode()
def latency_ms(model: nn.Module, input_shape: tuple[int, ...], *, batch: int = 1, runs: int = 20,
               warmup: int = 3) -> float:
    was_training = model.training
    model.eval()
    x = torch.randn(batch, *input_shape)
    try:
        for _ in range(warmup):
            model(x)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    finally:
        model.train(was_training)
    return 1000.0 * statistics.median(times)
