"""Sunny vs shady histograms (seed §4.3) and PCA explained variance (§6)."""

from __future__ import annotations

import numpy as np
import pytest

from nivalis.avalanche.io import Scene
from nivalis.errors import UserError
from nivalis.experiments.avalanche_analysis import (
    color_histograms,
    histogram_figure,
    histogram_summary,
    illumination_classes,
    pca_explained_variance,
)


def _scene(name, value, blue_shift):
    rng = np.random.default_rng(len(name))
    base = rng.normal(value, 8, (30, 30, 1))
    image = np.clip(np.concatenate([base - blue_shift, base, base + blue_shift], axis=2), 0, 255).astype(np.uint8)
    return Scene(name, image, None)


def test_histograms_and_summary_separate_sunny_from_shady(tmp_path):
    scenes = [_scene("bright", 225, 3), _scene("dark", 120, 25)]
    classes = illumination_classes(scenes)
    assert classes == {"bright": "sunny", "dark": "shady"}
    hists = [color_histograms(s, classes[s.name]) for s in scenes]
    assert np.allclose(hists[0].rgb.sum(1), 1) and np.allclose(hists[0].hsv.sum(1), 1)
    summary = histogram_summary(hists)
    assert 200 <= summary["sunny"]["peak"]["G"] <= 250 and 100 <= summary["shady"]["peak"]["G"] <= 150
    assert summary["shady"]["channel_separation"] > summary["sunny"]["channel_separation"]
    assert summary["shady"]["hsv_mean"]["S"] > summary["sunny"]["hsv_mean"]["S"]
    assert histogram_figure(hists, tmp_path / "h.png").stat().st_size > 1000


def test_histograms_need_colour():
    with pytest.raises(UserError, match="gray"):
        color_histograms(Scene("g", np.zeros((4, 4, 1), np.uint8), None), "sunny")


def test_pca_counts_components_of_a_low_rank_set():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(500, 3)) * [5.0, 3.0, 2.0]
    features = latent @ rng.normal(size=(3, 12)) + 1e-4 * rng.normal(size=(500, 12))
    result = pca_explained_variance(features, 0.99)
    assert result["components"] == 3 and result["features"] == 12
    assert result["cumulative"][2] > 0.99 and result["cumulative"][-1] == pytest.approx(1.0)
