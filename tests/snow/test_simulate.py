"""The Snow Radar simulator: reproducible, physically shaped, written in the real format."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from nivalis.snow.graphs import haversine_m
from nivalis.snow.io import load_radargram, load_radargram_folder
from nivalis.snow.simulate import SimulatorConfig, herron_langway_density, simulate_campaign


def test_herron_langway_density_profile():
    depth = np.linspace(0, 60, 121)
    rho = herron_langway_density(depth, np.full_like(depth, 249.0), np.full_like(depth, 0.3), 0.36)
    assert abs(rho[0] - 0.36) < 1e-9
    assert (np.diff(rho) > 0).all() and rho[-1] < 0.917
    assert 0.5 < float(np.interp(12.0, depth, rho)) < 0.6        # the 0.55 critical density near 10-15 m


def test_campaign_is_physical_and_in_the_real_format(campaign):
    radargrams, summary = load_radargram_folder(campaign, rows_needed=1)
    assert summary.files == 32 and not summary.bad
    usable = [r for r in radargrams if r.usability()[0]]
    assert 0.4 <= len(usable) / 32 <= 0.95                          # seed 000: 568 of 816 usable
    assert any(not r.usability()[0] for r in radargrams)            # some have too few layers or gaps
    first = radargrams[0]
    steps = haversine_m(first.latitude[:-1], first.longitude[:-1], first.latitude[1:], first.longitude[1:])
    np.testing.assert_allclose(steps, 14.5, rtol=1e-3)              # along-track spacing (Table I)
    assert (68 < first.latitude).all() and (first.latitude < 77).all()
    thick = np.stack([r.thickness()[:15] for r in usable])           # [R, 15, 256]
    by_depth = thick.mean(axis=(0, 2))
    assert by_depth[10:].mean() < 0.85 * by_depth[:5].mean()         # densification: deeper layers thinner
    assert 8 < by_depth.mean() < 40                                  # ≈ 4 cm pixels, 0.1-0.6 m w.e. per year
    # accumulation is spatially coherent: neighbouring traces agree far better than distant ones
    t = thick[:, 2]
    near = np.corrcoef(t[:, :-1].ravel(), t[:, 1:].ravel())[0, 1]
    far = np.corrcoef(t[:, :-128].ravel(), t[:, 128:].ravel())[0, 1]
    assert near > far + 0.05
    echo = load_radargram(usable[0].path, echogram=True).echogram
    assert echo.dtype == np.uint8 and 1200 <= echo.shape[0] <= 1700 and echo.shape[1] == 256
    cols = np.arange(256)
    rows = usable[0].layers[3].astype(int)
    assert echo[rows, cols].mean() > echo[rows + 4, cols].mean() + 10  # layers are bright reflectors
    assert "Elevation" in first.summary()["fields"] and "curr_smb" in first.fields


def _local_persistence(folder) -> tuple[float, float]:
    """Correlation of the within-radargram anomaly of the 5 target layers with that of the 10 feature layers
    below them, at the trace itself and averaged over neighbouring traces."""
    radargrams, _ = load_radargram_folder(folder, rows_needed=16)
    thick = np.stack([r.thickness()[:15] for r in radargrams if r.usability()[0]])
    target, feature = thick[:, :5].mean(1), thick[:, 5:].mean(1)
    target, feature = target - target.mean(1, keepdims=True), feature - feature.mean(1, keepdims=True)
    smooth = gaussian_filter1d(feature, 8.0, axis=1, mode="nearest")
    return (float(np.corrcoef(feature.ravel(), target.ravel())[0, 1]),
            float(np.corrcoef(smooth.ravel(), target.ravel())[0, 1]))


def test_local_accumulation_pattern_persists_from_deep_to_shallow_layers(campaign, tmp_path):
    """The structure a model must use once latitude/longitude have given it the regional climate: the wind
    imprint and km-scale relief repeat from the deep layers into the shallow ones; without them the only
    local link is the shared pick between adjacent layers (thicknesses anti-correlated)."""
    own, smooth = _local_persistence(campaign)
    assert own > 0.5 and smooth > 0.5
    flat = SimulatorConfig(radargrams=32, seed=5, radargrams_per_flight=(16, 16), relief_rel_std=0.0, wind_rel_std=0.0)
    simulate_campaign(tmp_path / "flat", flat)
    own_flat, smooth_flat = _local_persistence(tmp_path / "flat")
    assert own_flat < 0.0 and smooth_flat < 0.1


def test_same_seed_same_files(tmp_path):
    cfg = SimulatorConfig(radargrams=3, seed=11)
    a = simulate_campaign(tmp_path / "a", cfg)
    b = simulate_campaign(tmp_path / "b", SimulatorConfig(radargrams=3, seed=11))
    c = simulate_campaign(tmp_path / "c", SimulatorConfig(radargrams=3, seed=12))
    assert a["files"] == b["files"] == 3
    name = sorted(p.name for p in (tmp_path / "a").glob("*.mat"))[0]
    la, lb = load_radargram(tmp_path / "a" / name).layers, load_radargram(tmp_path / "b" / name).layers
    np.testing.assert_array_equal(la, lb)
    other = sorted((tmp_path / "c").glob("*.mat"))[0]
    assert load_radargram(other).latitude[0] != load_radargram(tmp_path / "a" / name).latitude[0]
    assert c["files"] == 3
