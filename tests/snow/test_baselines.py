"""The snow baselines: climatology is the training mean; ridge recovers a linear per-trace law."""

from __future__ import annotations

import torch

from nivalis.snow.baselines import predict_baseline
from nivalis.snow.graphs import SnowGraphs


def _graphs(features: torch.Tensor, targets: torch.Tensor) -> SnowGraphs:
    r, _, n, _ = features.shape
    return SnowGraphs(features, torch.zeros(r, n, n), targets, [f"r{i}" for i in range(r)])


def test_climatology_is_the_training_mean_per_year():
    train = _graphs(torch.zeros(2, 3, 4, 2), torch.tensor([[[1.0, 10.0]] * 4, [[3.0, 30.0]] * 4]))
    test = _graphs(torch.randn(1, 3, 4, 2), torch.zeros(1, 4, 2))
    pred = predict_baseline("climatology", train, test)
    assert pred.shape == (1, 4, 2) and torch.allclose(pred, torch.tensor([2.0, 20.0]).expand(1, 4, 2))


def test_ridge_recovers_a_linear_per_trace_law_that_climatology_cannot():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(3 * 2, 2, generator=g)

    def make(r):
        x = torch.randn(r, 3, 8, 2, generator=g)
        y = x.permute(0, 2, 1, 3).reshape(r, 8, 6) @ w + 5.0
        return _graphs(x, y)

    train, test = make(40), make(5)
    ridge = predict_baseline("ridge", train, test)
    clim = predict_baseline("climatology", train, test)
    err_ridge = (ridge - test.targets).pow(2).mean().sqrt()
    err_clim = (clim - test.targets).pow(2).mean().sqrt()
    assert err_ridge < 0.05 < err_clim
