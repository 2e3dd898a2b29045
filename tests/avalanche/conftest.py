"""Shared fixtures of the avalanche tests: a tiny simulated scene folder (session-scoped, built once)."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Run these small-tensor tests on one intra-op thread: on a shared, loaded 2-core machine OpenMP's
    second thread spin-waits for a busy core and makes small convolutions 10-40× slower (measured);
    alone on the machine, one thread is as fast for tensors this small. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def scene_dir(tmp_path_factory):
    from nivalis.avalanche.simulate import simulate_dataset

    out = tmp_path_factory.mktemp("avalanche") / "data"
    simulate_dataset(out, scenes=6, seed=3, size=(96, 96))
    return out


def randomize_batchnorm(module: torch.nn.Module, seed: int = 0) -> None:
    """Give BatchNorm layers non-trivial running statistics and affine weights (as after training)."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)


def random_image(height: int, width: int, channels: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)
