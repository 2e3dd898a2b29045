"""Latency: the median of timed forward passes, with the training mode restored."""

import time

import torch
import torch.nn as nn

from nivalis.profile import latency_ms


class _Sleep(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(0.005)
        return x


def test_latency_is_the_median_wall_time():
    model = _Sleep().train()
    ms = latency_ms(model, (1, 2, 2), runs=5, warmup=1)
    assert 5.0 <= ms < 100.0
    assert model.training
