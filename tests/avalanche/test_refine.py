"""Refinement: the seed's pyramid kernel, Canny, edge enhancement, max filter + threshold, XGBoost head."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from nivalis.avalanche.refine import (
    XGBoostHead,
    binomial_kernel,
    canny_edges,
    edge_enhance,
    gaussian_pyramid,
    head_features,
    max_filter_threshold,
    pyramid_down,
    sample_balanced_pixels,
)

from .conftest import random_image


def test_binomial_kernel_is_the_seeds_matrix_normalised():
    k = binomial_kernel()
    assert k.shape == (5, 5) and k.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(k[2] * 256, [6, 24, 36, 24, 6])  # the seed's middle row


@pytest.mark.parametrize("shape", [(32, 48, 3), (31, 17, 1)])
def test_pyramid_level_matches_opencv_pyrdown(shape):
    image = random_image(*shape, seed=4)
    ours = pyramid_down(image.astype(np.float32))
    ref = cv2.pyrDown(image.astype(np.float32))
    ref = ref[..., None] if ref.ndim == 2 else ref
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-3)
    levels = gaussian_pyramid(image, 2)
    assert [lv.shape[:2] for lv in levels] == [shape[:2], ref.shape[:2], ((ref.shape[0] + 1) // 2, (ref.shape[1] + 1) // 2)]


def test_canny_finds_the_boundary_of_a_predicted_region():
    p = np.zeros((40, 40), np.float32)
    p[10:30, 12:28] = 0.9
    edges = canny_edges(p)
    rows, cols = np.nonzero(edges)
    assert edges.any() and rows.min() >= 8 and rows.max() <= 31 and cols.min() >= 10 and cols.max() <= 29
    assert not edges[15:25, 16:24].any()  # nothing inside the flat region


def test_edge_enhance_changes_only_the_band_and_sharpens():
    image = np.zeros((40, 40, 1), np.uint8) + 80
    image[:, 20:] = 160
    edges = np.zeros((40, 40), bool)
    edges[:, 20] = True
    out = edge_enhance(image, edges, gain=1.5, band=3)
    np.testing.assert_array_equal(out[:, :15], image[:, :15])
    np.testing.assert_array_equal(out[:, 25:], image[:, 25:])
    assert out[5, 19, 0] < 80 and out[5, 20, 0] > 160  # overshoot on both sides of the step
    np.testing.assert_array_equal(edge_enhance(image, np.zeros_like(edges)), image)


def test_max_filter_threshold():
    p = np.zeros((9, 9), np.float32)
    p[4, 4] = 0.8
    assert max_filter_threshold(p, 3, 0.5).sum() == 9
    assert max_filter_threshold(p, 1, 0.5).sum() == 1
    assert max_filter_threshold(p, 3, 0.9).sum() == 0


def test_xgboost_head_learns_and_round_trips_json():
    rng = np.random.default_rng(0)
    p = rng.random((30, 30)).astype(np.float32)
    hidden = rng.normal(size=(30, 30, 4)).astype(np.float32)
    truth = (hidden[..., 0] + 0.5 * hidden[..., 1] > 0.2)
    x = head_features(p, hidden)
    assert x.shape == (900, 4 + 5)
    head = XGBoostHead(trees=30, depth=3).fit(x, truth.ravel())
    pred = head.predict_map(p, hidden)
    assert ((pred >= 0.5) == truth).mean() > 0.95
    back = XGBoostHead.from_json(head.to_json())
    np.testing.assert_allclose(back.predict_map(p, hidden), pred, atol=1e-6)


def test_balanced_pixel_sampling():
    masks = [np.zeros((20, 20), bool), np.zeros((20, 20), bool)]
    masks[0][:5, :5] = True
    picks = sample_balanced_pixels(masks, 40, seed=0)
    labels = np.concatenate([m.ravel()[p] for m, p in zip(masks, picks)])
    assert len(labels) == 40 and labels.sum() == 20
