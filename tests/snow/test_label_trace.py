"""Label images traced into layer rows: jagged hand-drawn lines by their order, gaps and changing counts aligned."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.io

from nivalis.snow.readers.label_trace import BRIDGE_COLUMNS, TRACK_TOLERANCE_PX, align, trace_label_image
from tests.cli_helpers import invoke

W = 256
GAP_LAYER, GAP = 9, slice(140, 145)          # one short gap: 5 columns of one layer undrawn


def _jagged_rows(seed: int) -> np.ndarray:
    """17 layers (surface + 16) 18-30 px apart, stepping up to 12 px between adjacent columns: a common step of up
    to 4 px plus each line's own jitter of up to ±4 px (so neighbours step differently)."""
    rng = np.random.default_rng(seed)
    spacing = np.linspace(30, 18, 16).round()
    base = 80.0 + np.concatenate([[0.0], np.cumsum(spacing)])
    common = np.zeros(W, dtype=np.int64)                   # a walk kept within ±40 px: the lines stay in the image
    for c, step in enumerate(rng.integers(-4, 5, size=W - 1), start=1):
        common[c] = np.clip(common[c - 1] + step, -40, 40)
    jitter = rng.integers(-4, 5, size=(17, W))
    sign = 1 if common[101] >= common[100] else -1          # one step of exactly 12 px: column 100 → 101
    common[101:] += common[100] + 4 * sign - common[101]
    jitter[5, 100:102] = (-4 * sign, 4 * sign)
    return base[:, None] + common[None, :] + jitter


def _draw(rows: np.ndarray, seed: int, height: int = 600) -> np.ndarray:
    """A binary label image: lines 1 or 2 px thick, the gap left undrawn."""
    thick = np.random.default_rng(seed + 1).integers(1, 3, size=rows.shape)
    image = np.zeros((height, W), np.uint8)
    for k, layer in enumerate(rows):
        for c in range(W):
            if k == GAP_LAYER and GAP.start <= c < GAP.stop:
                continue
            image[int(layer[c]):int(layer[c]) + thick[k, c], c] = 255
    return image


def test_jagged_lines_with_a_gap_are_traced_to_their_drawn_rows():
    rows = _jagged_rows(0)
    steps = np.abs(np.diff(rows, axis=1))
    assert steps.max() == 12 and np.median(steps) >= 3            # far beyond TRACK_TOLERANCE_PX
    traced = trace_label_image(_draw(rows, 0) > 127)
    assert traced.shape == rows.shape
    drawn = np.ones(rows.shape, dtype=bool)
    drawn[GAP_LAYER, GAP] = False
    np.testing.assert_array_equal(traced[drawn], rows[drawn])
    ends = rows[GAP_LAYER, [GAP.start - 1, GAP.stop]]             # the gap is bridged between its drawn ends
    np.testing.assert_allclose(traced[GAP_LAYER, GAP], np.linspace(*ends, GAP.stop - GAP.start + 2)[1:-1])
    assert (np.diff(traced, axis=0) > 0).all()                    # in depth order everywhere


def test_a_layer_that_ends_where_another_starts_is_not_renumbered():
    """Equal run counts on both sides of a column, but one line ends and a deeper one starts there: the
    alignment, not the order, continues the layers between them (smooth lines, so a big step is a new layer)."""
    rows = np.stack([np.full(W, 20.0 + 30 * k) + np.arange(W) // 40 for k in range(6)])
    rows[2, 128:] = np.nan
    rows[5, :128] = np.nan
    image = np.zeros((300, W), np.uint8)
    for k, c in zip(*np.nonzero(np.isfinite(rows))):
        image[int(rows[k, c]), c] = 255
    traced = trace_label_image(image > 0)
    np.testing.assert_array_equal(traced, rows)


def test_alignment_skips_the_missing_layer_and_the_speck():
    runs = np.array([10.0, 31.0, 49.0, 52.0, 90.0])              # the layer near 70 is missing, 49 is a speck
    predicted = np.array([11.0, 30.0, 50.0, 70.0, 91.0])
    match, cost = align(runs, predicted, skip_cost=8.0)
    assert match.tolist() == [0, 1, -1, 2, 3] or match.tolist() == [0, 1, 2, -1, 4]
    assert match.tolist() == [0, 1, 2, -1, 4]                     # 49 is nearer 50 than 52 is
    assert cost == pytest.approx(1 + 1 + 1 + 8 + 8 + 1)


def test_a_gap_longer_than_the_bridge_stays_untracked():
    rows = _jagged_rows(1)
    image = _draw(rows, 1)
    image[:, 60:60 + BRIDGE_COLUMNS + 3] = 0
    traced = trace_label_image(image > 127)
    assert traced.shape == rows.shape
    assert np.isnan(traced[:, 60:60 + BRIDGE_COLUMNS + 3]).all()
    after = np.s_[:, 60 + BRIDGE_COLUMNS + 3:]
    drawn = np.ones(rows.shape, dtype=bool)
    drawn[GAP_LAYER, GAP] = False
    np.testing.assert_array_equal(traced[after][drawn[after]], rows[after][drawn[after]])


def test_inspect_reports_a_jagged_release_fully_usable_with_its_steps(tmp_path):
    root = tmp_path / "release"
    (root / "image").mkdir(parents=True)
    (root / "layer_bin").mkdir()
    lat, lon = np.linspace(72.0, 72.02, W), np.linspace(-38.5, -38.4, W)
    for i in range(3):
        scipy.io.savemat(root / "image" / f"r{i}_20110420.mat", {"latlon": np.stack([lat, lon], 1)})
        cv2.imwrite(str(root / "layer_bin" / f"r{i}_20110420.png"), _draw(_jagged_rows(i), i))
    result = invoke("snow", "inspect", str(root), "--json")
    assert result.code == 0, result.err
    info = result.json()
    assert info["files"] == 3 and info["usable"] == 3 and info["unusable"] == 0, info["unusable_reasons"]
    steps = [r["max_step_px"] for r in info["radargram_summaries"]]
    assert min(steps) > TRACK_TOLERANCE_PX and max(steps) >= 12
    assert all(any("step up to" in n for n in notes) for notes in info["notes"].values())
    assert "traced by their order" in result.err
