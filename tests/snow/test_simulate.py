"""The Snow Radar simulator: reproducible, physically shaped, written in the real format."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from nivalis.snow import load_radargram, load_radargram_folder
from nivalis.snow.graphs import haversine_m
from nivalis.snow.simulate import SimulatorConfig, campaign_statistics, simulate_campaign
from nivalis.snow.simulator_physics import monotone_rows, track_layers
from nivalis.snow.units import herron_langway_density


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
    assert 30 < by_depth.mean() < 90                                 # ≈ 1.3 cm rows: annual layers of 44-67 px
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
    local link is the shared pick between adjacent layers (thicknesses anti-correlated). Calibrated on the real
    ≈ 3 % within-radargram CV, the local terms are a modest share beside the picking noise."""
    own, smooth = _local_persistence(campaign)
    assert own > 0.3 and smooth > 0.3
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


def test_small_campaign_matches_the_published_statistics_of_real_layers(tmp_path):
    """Issue 21: real labelled layers have annual layers of 44-67 px, a within-radargram CV of about 3 %, a
    between-radargram CV of 15-39 % per year and 16-28 tracked layers; 16 flights of 2 radargrams here."""
    cfg = SimulatorConfig(radargrams=32, seed=0, radargrams_per_flight=(2, 2), fmt="v5")
    simulate_campaign(tmp_path, cfg)
    radargrams, summary = load_radargram_folder(tmp_path)
    assert summary.files == 32 and len(radargrams) >= 12
    stats = campaign_statistics(radargrams)
    assert all(40 <= t <= 75 for t in stats["thickness_px"]), stats
    assert 0.02 <= np.mean(stats["within_cv"]) <= 0.06, stats
    assert all(0.10 <= cv <= 0.45 for cv in stats["between_cv"]), stats
    assert 16 <= stats["tracked_layers"][0] and stats["tracked_layers"][2] <= 28, stats
    # no isochrone dives: every tracked boundary stays within 3 m of depth along a 3.7 km radargram
    spread_m = max(float(np.nanmax(np.nanmax(r.layers, 1) - np.nanmin(r.layers, 1))) for r in radargrams) * cfg.pixel_m
    assert spread_m < 3.0


def test_tracked_layers_never_cross():
    """A pick above the layer two rows up: a pairwise maximum of adjacent rows leaves a crossing, the cumulative
    maximum down the stack does not."""
    rows = np.array([[10.0, 10.0], [30.0, 30.0], [25.0, 40.0], [20.0, 50.0]])
    pairwise = rows.copy()
    pairwise[1:] = np.maximum(pairwise[1:], pairwise[:-1])
    assert (np.diff(pairwise, axis=0) < 0).any()                    # the old fix: rows 2 and 3 still cross
    fixed = monotone_rows(rows)
    np.testing.assert_array_equal(fixed[:, 0], [10, 30, 30, 30])
    np.testing.assert_array_equal(fixed[:, 1], rows[:, 1])
    # picking errors far larger than the layers: the tracker's rows stay in depth order in every trace
    cfg = SimulatorConfig(pick_sigma_px=6.0, gap_rate=0.0, pick_noise_depth_m=1e9)
    truth = 60.0 + np.cumsum(np.full((20, 256), 3.0), axis=0)
    picked = track_layers(np.random.default_rng(0), truth, (truth - 60.0) * cfg.pixel_m, 40.0, cfg)
    assert picked.shape[0] == 20 and (np.diff(picked, axis=0) >= 0).all()


def test_seed_layout_is_read_back_to_the_simulated_rows(tmp_path):
    """`layout="seed"` writes image/NAME.mat (echogram + 256x2 latitude/longitude) and layer_bin/NAME.png; the
    seed-release reader traces the label images back to the rows the layers_vector layout holds."""
    kw = dict(radargrams=6, seed=2, radargrams_per_flight=(6, 6), echograms=True, fmt="v5")
    simulate_campaign(tmp_path / "lv", SimulatorConfig(**kw))
    result = simulate_campaign(tmp_path / "seed", SimulatorConfig(**kw, layout="seed"))
    assert result["layout"] == "seed"
    assert len(list((tmp_path / "seed" / "image").glob("*.mat"))) == 6
    assert len(list((tmp_path / "seed" / "layer_bin").glob("*.png"))) == 6
    seed, summary = load_radargram_folder(tmp_path / "seed", include_unusable=True, echogram=True)
    assert summary.layout == "seed_release" and summary.files == 6 and not summary.bad
    truth = {r.name: r for r in load_radargram_folder(tmp_path / "lv", include_unusable=True)[0]}
    for r in seed:
        want = truth[r.name].layers
        covered = np.zeros(want.shape, dtype=bool)
        # every traced layer is one simulated layer, to within a pixel wherever both exist; the reader may cut a
        # sloping layer in two across a long gap (its continuation rule), so pieces are matched one by one
        for piece in r.layers:
            both = np.isfinite(want) & np.isfinite(piece)[None, :]
            err = np.where(both, np.abs(want - piece[None, :]), np.inf).max(axis=1, initial=0.0, where=both)
            err[~both.any(axis=1)] = np.inf
            k = int(np.argmin(err))
            assert err[k] <= 1.0, (r.name, k, err[k])
            covered[k] |= both[k]
        assert covered.sum() >= 0.98 * np.isfinite(want).sum()        # traced wherever the simulator picked
        assert want.shape[0] <= r.layers.shape[0] <= 2 * want.shape[0]
        np.testing.assert_allclose(r.latitude, truth[r.name].latitude)
        np.testing.assert_allclose(r.longitude, truth[r.name].longitude)
        assert r.echogram is not None and r.echogram.shape[1] == 256 and 1200 <= r.echogram.shape[0] <= 1700
