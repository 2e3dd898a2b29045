"""Graph construction of seed 000 §IV-D: haversine weights, layer choice, training-only normalisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nivalis.snow import Radargram
from nivalis.snow.config import SnowConfig
from nivalis.snow.graphs import (
    SnowGraphs,
    fit_graph_stats,
    haversine_m,
    inverse_distance,
    layer_indices,
    normalised_tensors,
    radargram_arrays,
)


def test_haversine_known_distances():
    # a quarter of a great circle, one degree of latitude, and Paris–London (≈ 343.5 km on a 6371 km sphere)
    assert haversine_m(0.0, 0.0, 0.0, 90.0) == pytest.approx(np.pi / 2 * 6_371_000.0)
    assert haversine_m(70.0, -40.0, 71.0, -40.0) == pytest.approx(111_194.9, rel=1e-5)
    assert haversine_m(48.8566, 2.3522, 51.5074, -0.1278) == pytest.approx(343_500, rel=3e-3)


def test_inverse_distance_graph():
    lat = 70.0 + np.arange(5) * 14.5 / 111_194.9    # traces 14.5 m apart along a meridian
    w = inverse_distance(lat, np.full(5, -40.0))
    assert np.allclose(np.diag(w), 0) and np.allclose(w, w.T)
    assert w[0, 1] == pytest.approx(1 / 14.5, rel=1e-4) and w[0, 4] == pytest.approx(1 / 58.0, rel=1e-4)
    assert np.isfinite(inverse_distance(np.zeros(3), np.zeros(3))).all()  # duplicated positions stay finite


def test_layer_indices_both_directions():
    cfg = SnowConfig()
    feats, targets = layer_indices(cfg)
    assert feats == list(range(14, 4, -1))       # 1997 ... 2006, oldest first
    assert targets == [4, 3, 2, 1, 0]             # 2007 ... 2011
    assert cfg.target_years() == ["2007", "2008", "2009", "2010", "2011"]
    rev = SnowConfig(direction="shallow_to_deep")
    feats, targets = layer_indices(rev)
    assert feats == list(range(10)) and targets == [14, 13, 12, 11, 10]
    assert rev.target_years() == ["1997", "1998", "1999", "2000", "2001"]


def _radargram(seed: int, rows: int = 17) -> Radargram:
    rng = np.random.default_rng(seed)
    thick = rng.uniform(10, 20, size=(rows - 1, 8))
    layers = np.vstack([np.zeros((1, 8)), np.cumsum(thick, 0)])
    lat = 70 + seed * 0.1 + np.arange(8) * 1e-4
    return Radargram(path=Path(f"r{seed}.mat"), layers=layers, latitude=lat,
                     longitude=np.full(8, -40.0), elevation=np.full(8, 2000.0 + seed),
                     fields={"curr_smb": np.full((rows, 8), 0.25 + seed)})


def test_arrays_features_targets_and_training_only_stats():
    cfg = SnowConfig(columns=8)
    rs = [_radargram(s) for s in range(4)]
    arrays = radargram_arrays(rs, cfg)
    assert arrays.static.shape == (4, 8, 2) and arrays.dynamic.shape == (4, 10, 8, 1)
    thick = rs[1].thickness()
    np.testing.assert_allclose(arrays.dynamic[1, 0, :, 0], thick[14])     # first step = deepest (oldest) layer
    np.testing.assert_allclose(arrays.targets[1, :, -1], thick[0])        # last output = layer under the surface
    train = arrays.subset([0, 1, 2])
    stats = fit_graph_stats(train)
    assert stats.feature_mean[2] == pytest.approx(train.dynamic.mean())
    off = ~np.eye(8, dtype=bool)
    assert stats.weight_max == pytest.approx(train.weights[:, off].max())
    feats, adj, targets = normalised_tensors(train, stats)
    assert feats.shape == (3, 10, 8, 3) and adj.shape == (3, 8, 8) and targets.shape == (3, 8, 5)
    flat = feats.reshape(-1, 3)
    torch.testing.assert_close(flat.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    assert float(adj.max()) == pytest.approx(1.0) and float(adj.min()) == pytest.approx(0.0)
    test_feats, test_adj, _ = normalised_tensors(arrays.subset([3]), stats)  # test data uses training stats
    assert not torch.allclose(test_feats.reshape(-1, 3).mean(0), torch.zeros(3), atol=1e-3)
    (x, a), y = SnowGraphs.build(train, stats)[1]
    assert x.shape == (10, 8, 3) and a.shape == (8, 8) and y.shape == (8, 5)


def test_extra_features_static_and_per_layer():
    cfg = SnowConfig(columns=8, extra_features=("Elevation", "curr_smb"))
    arrays = radargram_arrays([_radargram(s) for s in range(2)], cfg)
    assert arrays.feature_names == ["latitude", "longitude", "Elevation", "thickness", "curr_smb"]
    assert arrays.n_static == 3 and arrays.dynamic.shape == (2, 10, 8, 2)
    from nivalis.errors import UserError

    with pytest.raises(UserError, match="no field 'nope'"):
        radargram_arrays([_radargram(0)], SnowConfig(columns=8, extra_features=("nope",)))
