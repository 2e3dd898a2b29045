"""The snow readers on files drawn by hand: seed-release label images, CReSIS layer files and frames, conventions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.io

from nivalis.snow import load_radargram, load_radargram_folder, load_radargrams, write_radargram
from nivalis.snow.readers.radargram import ReadOptions
from nivalis.snow.readers.seed_release import BRIDGE_COLUMNS, trace_label_image
from nivalis.snow.units import FirnModel
from tests.cli_helpers import assert_user_error, invoke
from tests.snow.matlab_files import write_v73

W = 256
C = 299_792_458.0


def _mean_thickness(rows: np.ndarray) -> list[float]:
    d = np.diff(rows, axis=0)
    return [float(np.nanmean(r)) for r in d]


# --------------------------------------------------------------------------------------------- seed release


def _drawn_rows() -> np.ndarray:
    """Five layers: a flat surface, a 2-px line, a gap of 5 columns, a layer missing in 100 columns, a slope."""
    cols = np.arange(W)
    rows = np.stack([np.full(W, 10.0), np.full(W, 50.0), 90.0 + cols // 32, 140.0 + cols // 64,
                     200.0 + cols // 16])
    rows[3, 100:200] = np.nan
    return rows


def _label_image(rows: np.ndarray, height: int = 300) -> np.ndarray:
    img = np.zeros((height, W), np.uint8)
    for k, layer in enumerate(rows):
        for c in range(W):
            if not np.isfinite(layer[c]) or (k == 2 and 120 <= c < 125):  # the 5-column gap, bridged
                continue
            r = int(layer[c])
            img[r, c] = 255
            if k in (1, 3):                                               # 2-px-thick lines
                img[r + 1, c] = 255
    return img


def test_label_image_traced_into_rows():
    rows = _drawn_rows()
    traced = trace_label_image(_label_image(rows) > 127)
    np.testing.assert_array_equal(traced, rows)            # bridged gap, NaN where missing, 2-px lines → top row
    wide = _label_image(rows)
    wide[:, 60:60 + BRIDGE_COLUMNS + 3] = 0                 # a gap longer than the bridge stays NaN in every layer
    traced = trace_label_image(wide > 127)
    assert traced.shape == rows.shape
    assert np.isnan(traced[:, 61:60 + BRIDGE_COLUMNS + 2]).all()
    np.testing.assert_array_equal(traced[:, :60], rows[:, :60])


def _seed_release(root, *, ambiguous: bool = False):
    (root / "image").mkdir(parents=True)
    (root / "layer_bin").mkdir()
    rows = _drawn_rows()
    lat, lon = np.linspace(69.0, 69.03, W), np.linspace(-45.0, -44.99, W)
    echo = np.random.default_rng(0).integers(0, 255, size=(300, W)).astype(np.uint8)
    variables = {"coords": np.stack([lat, lon], 1), "img": echo}
    if ambiguous:
        variables["other"] = np.stack([lat, lon], 0)        # 2×256: also plausible degrees
    scipy.io.savemat(root / "image" / "a_20140401.mat", variables)
    cv2.imwrite(str(root / "layer_bin" / "a_20140401.png"), _label_image(rows))
    flat = np.vstack([np.full((1, W), 5.0 + 40 * k) for k in range(17)])
    write_v73(root / "image" / "b.mat", {"Latitude": lat + 0.1, "Longitude": lon})
    cv2.imwrite(str(root / "layer_bin" / "b.bmp"), _label_image(flat, height=700))
    return rows, flat


def test_seed_release_folder_inspect_reads_every_radargram(tmp_path):
    rows, flat = _seed_release(tmp_path / "release")
    result = invoke("snow", "inspect", str(tmp_path / "release"), "--json")
    assert result.code == 0, result.err
    info = result.json()
    assert info["layout"] == "seed_release" and info["files"] == 2 and info["radargrams"] == 2
    assert info["bad"] == 0 and info["usable"] == 1                       # b has 17 flat layers, a only 5
    per = {r["name"]: r for r in info["radargram_summaries"]}
    assert per["a_20140401"]["thickness_px"] == pytest.approx(_mean_thickness(rows))
    assert per["b"]["thickness_px"] == pytest.approx([40.0] * 16)
    # no Time axis: 4 cm per pixel (seed 000 Table I) unless --pixel-m says otherwise
    assert per["b"]["thickness_m"] == pytest.approx([1.6] * 16)
    assert per["a_20140401"]["survey_year"] == 2014 and per["a_20140401"]["layer_years"][0] == 2013
    assert per["b"]["survey_year_from"] == "default 2012"
    radargram = load_radargram(tmp_path / "release" / "image" / "a_20140401.mat", echogram=True)
    assert radargram.layout == "seed_release" and radargram.echogram.shape == (300, W)
    np.testing.assert_allclose(radargram.latitude, np.linspace(69.0, 69.03, W))


def test_seed_release_ambiguous_positions_need_latlon_field(tmp_path):
    _seed_release(tmp_path / "r", ambiguous=True)
    info = invoke("snow", "inspect", str(tmp_path / "r"), "--json").json()
    assert info["bad"] == 1 and "--latlon-field" in info["bad_files"]["a_20140401.mat"]
    info = invoke("snow", "inspect", str(tmp_path / "r"), "--json", "--latlon-field", "coords").json()
    assert info["bad"] == 0 and info["radargrams"] == 2


# --------------------------------------------------------------------------------------------- CReSIS

TAU0 = 2.0e-6                                  # aircraft to surface, two-way (s)
STEPS = np.array([8e-9, 9e-9, 10e-9, 11e-9])   # two-way travel time through each layer (s)
DT = 1e-10                                     # echogram range bin (s)


def _twtt(n: int = 700) -> np.ndarray:
    surface = TAU0 + 1e-9 * np.sin(np.arange(n) / 50)
    return surface + np.concatenate([[0.0], np.cumsum(STEPS)])[:, None]


def _positions(n: int = 700):
    gps = 1_397_000_000.0 + np.arange(n) * 0.05    # April 2014
    return gps, np.linspace(75.0, 75.2, n), np.linspace(300.0, 300.5, n)  # longitudes in 0–360


def _cresis(root, n: int = 700):
    gps, lat, lon = _positions(n)
    layer = root / "CSARP_layer" / "20140408_01" / "Data_20140408_01_005.mat"
    layer.parent.mkdir(parents=True)
    scipy.io.savemat(layer, {"gps_time": gps[None], "lat": lat[None], "lon": lon[None], "twtt": _twtt(n),
                             "id": np.arange(1, 6)[None].astype(float)})
    frame = root / "CSARP_standard" / "20140408_01" / "Data_20140408_01_005.mat"
    frame.parent.mkdir(parents=True)
    time = TAU0 - 50 * DT + np.arange(900) * DT
    scipy.io.savemat(frame, {"Data": np.random.default_rng(1).random((900, n)), "Time": time[:, None],
                             "Latitude": lat[None], "Longitude": lon[None], "Elevation": np.empty((0, 0)),
                             "Surface": _twtt(n)[:1], "GPS_time": gps[None]})
    return layer, frame


def test_cresis_layer_and_frame_cut_into_radargrams_in_metres(tmp_path):
    _cresis(tmp_path)
    result = invoke("snow", "inspect", str(tmp_path), "--json", "--density", "0.4", "--feature-layers", "2",
                    "--target-layers", "1")
    assert result.code == 0, result.err
    info = result.json()
    assert info["layout"] == "CSARP_layer" and info["radargrams"] == 2 and info["usable"] == 2
    assert info["files"] == 2 and info["echogram_frames"] == 1
    assert info["leftover_traces"] == {"Data_20140408_01_005.mat": 700 - 2 * 256}
    # by hand: dz = c dt / (2 sqrt(eps)), sqrt(eps) = 1 + 0.845 * 0.4 (Kovacs); m w.e. = metres * 0.4 g/cm³
    metres = C * STEPS / (2 * (1 + 0.845 * 0.4))
    for r in info["radargram_summaries"]:
        assert r["columns"] == 256 and r["survey_year"] == 2014
        assert r["thickness_px"] == pytest.approx(STEPS / DT, rel=1e-6)   # rows read on the frame's Time axis
        assert r["thickness_m"] == pytest.approx(metres, abs=1e-5)
        assert r["thickness_mwe"] == pytest.approx(metres * 0.4, abs=1e-5)
        assert -180 <= r["longitude"][0] < r["longitude"][1] < -59
    assert [r["name"] for r in info["radargram_summaries"]] == ["Data_20140408_01_005_t00000",
                                                               "Data_20140408_01_005_t00256"]
    assert "Elevation: empty MATLAB field ignored" in result.err and "normalised" in result.err
    # a single file finds its frame in the sibling CSARP_standard folder
    radargrams = load_radargrams(tmp_path / "CSARP_layer" / "20140408_01" / "Data_20140408_01_005.mat",
                                 options=ReadOptions(columns=128))
    assert len(radargrams) == 5 and radargrams[0].layers.shape == (5, 128)


def test_frame_surface_becomes_row_0_when_the_picks_lack_it(tmp_path):
    layer, _ = _cresis(tmp_path)
    gps, lat, lon = _positions()
    scipy.io.savemat(layer, {"gps_time": gps[None], "lat": lat[None], "lon": lon[None], "twtt": _twtt()[1:]})
    radargrams = load_radargrams(layer, options=ReadOptions(firn=FirnModel(density=0.4)))
    assert radargrams[0].n_layers == 5 and any("Surface is row 0" in n for n in radargrams[0].notes)
    assert radargrams[0].summary(rows_needed=5)["thickness_px"] == pytest.approx(STEPS / DT, rel=1e-6)


@pytest.mark.parametrize("fmt", ["v5", "v7.3"])
def test_layerdata_structs_without_frame(tmp_path, fmt):
    """Older layer files: layerData{k}.value{2}.data in travel time; no frame, so rows = depth / pixel size."""
    gps, lat, lon = _positions(512)
    twtt = _twtt(512)
    path = tmp_path / "Data_20110420_02_010.mat"
    if fmt == "v5":
        cells = np.empty((1, len(twtt)), dtype=object)
        for k, row in enumerate(twtt):
            value = np.empty((1, 2), dtype=object)
            value[0, 0], value[0, 1] = {"data": np.full((1, 512), np.nan)}, {"data": row[None]}
            cells[0, k] = {"value": value, "quality": 1.0}
        scipy.io.savemat(path, {"layerData": cells, "GPS_time": gps[None], "Latitude": lat[None],
                                "Longitude": lon[None] - 360, "Elevation": np.full((1, 512), 3000.0)})
    else:
        write_v73(path, {"layerData": [{"value": [{"data": np.full(512, np.nan)}, {"data": row}], "quality": 1.0}
                                       for row in twtt],
                         "GPS_time": gps, "Latitude": lat, "Longitude": lon - 360, "Elevation": np.full(512, 3e3)})
    radargrams = load_radargrams(path, options=ReadOptions(firn=FirnModel(density=0.35)))
    assert [r.layout for r in radargrams] == ["layerData", "layerData"]
    metres = C * STEPS / (2 * (1 + 0.845 * 0.35))
    summary = radargrams[1].summary(rows_needed=5, firn=FirnModel(density=0.35))
    assert summary["usable"] and summary["thickness_m"] == pytest.approx(metres, abs=1e-5)
    assert summary["thickness_px"] == pytest.approx(metres / 0.04, abs=1e-3)
    assert summary["thickness_mwe"] == pytest.approx(metres * 0.35, abs=1e-5)
    assert radargrams[0].survey_year == 2011 and radargrams[0].elevation[0] == 3000.0
    assert any("Time axis" in n for n in radargrams[0].notes)


def test_frame_alone_is_refused_with_the_reason(tmp_path):
    _, frame = _cresis(tmp_path)
    assert_user_error(invoke("snow", "inspect", str(frame)), "without layer picks")


# --------------------------------------------------------------------------------------------- conventions


def _layers_vector(**overrides):
    rng = np.random.default_rng(3)
    thick = rng.integers(30, 60, size=(16, W)).astype(float)
    v = {"layers_vector": np.vstack([np.full((1, W), 20.0), 20.0 + np.cumsum(thick, 0)]),
         "Latitude": np.linspace(70.0, 70.03, W)[:, None], "Longitude": np.linspace(-40.0, -39.99, W)[:, None],
         "Elevation": np.linspace(2500, 2510, W)[:, None]}
    v.update(overrides)
    return v


def test_travel_time_or_metres_where_pixels_are_expected_is_an_error(tmp_path):
    seconds = _layers_vector()
    seconds["layers_vector"] = seconds["layers_vector"] * 1e-10
    write_radargram(tmp_path / "s.mat", seconds, fmt="v5")
    assert_user_error(invoke("snow", "inspect", str(tmp_path / "s.mat")), "travel time in seconds")
    metres = _layers_vector()
    metres["layers_vector"] = metres["layers_vector"] * 0.0413
    write_radargram(tmp_path / "m.mat", metres)
    assert_user_error(invoke("snow", "inspect", str(tmp_path / "m.mat")), "depth in metres")
    info = invoke("snow", "inspect", str(tmp_path), "--json").json()
    assert info["bad"] == 2 and info["readable"] == 0      # neither is predicted as if it were pixels


def test_longitudes_0_360_empty_elevation_and_one_nan_latitude_are_fixed_and_said(tmp_path):
    lat = np.linspace(70.0, 70.03, W)
    holed = lat.copy()
    holed[100] = np.nan
    v = _layers_vector(Longitude=np.linspace(320.0, 320.01, W)[:, None], Elevation=np.empty((0, 0)),
                       Latitude=holed[:, None])
    write_radargram(tmp_path / "c.mat", v, fmt="v5")
    write_v73(tmp_path / "d.mat", {**v, "Elevation": np.empty(0)})  # MATLAB_empty, arrays stored transposed
    for name in ("c.mat", "d.mat"):
        result = invoke("snow", "inspect", str(tmp_path / name), "--json")
        assert result.code == 0, result.err
        info = result.json()
        assert info["usable"] and "Elevation" not in info["fields"]
        assert info["longitude"] == pytest.approx([-40.0, -39.99])
        err = result.err.splitlines()
        assert any("Longitude" in ln and "normalised" in ln for ln in err), result.err
        assert any("Elevation: empty MATLAB field ignored" in ln for ln in err), result.err
        assert any("Latitude: 1 NaN" in ln and "interpolated" in ln for ln in err), result.err
        r = load_radargram(tmp_path / name)
        assert r.latitude[100] == pytest.approx(lat[100]) and r.elevation is None
    many = lat.copy()
    many[:40] = np.nan
    write_radargram(tmp_path / "bad" / "e.mat", _layers_vector(Latitude=many[:, None]), fmt="v5")
    assert_user_error(invoke("snow", "inspect", str(tmp_path / "bad" / "e.mat")), "too many to interpolate")


@pytest.mark.parametrize("fmt", ["v5", "v7.3"])
def test_a_negative_layer_row_is_not_usable_in_either_mat_format(tmp_path, fmt):
    layers = np.vstack([np.full((1, W), 5.0 + 40 * k) for k in range(17)])
    layers[0, 10] = -3.0                                  # above the image: no pixel row
    lat = np.linspace(69.0, 69.1, W).reshape(-1, 1)
    write_radargram(tmp_path / f"neg_{fmt}.mat", {"layers_vector": layers, "Latitude": lat, "Longitude": -lat}, fmt)
    ok, reason = load_radargram(tmp_path / f"neg_{fmt}.mat").usability()
    assert not ok and reason == "row 0 has negative pixel rows (above the image) in 1 of 256 columns"
    assert load_radargram_folder(tmp_path, include_unusable=True)[1].to_dict()["unusable_reasons"] == {
        "negative rows": 1}


def test_survey_year_option_relabels_the_layers(tmp_path):
    write_radargram(tmp_path / "20170402_01_003.mat", _layers_vector(), fmt="v5")
    info = invoke("snow", "inspect", str(tmp_path / "20170402_01_003.mat"), "--json").json()
    assert (info["survey_year"], info["survey_year_from"]) == (2017, "file name date")
    assert info["layer_years"][:2] == [2016, 2015]
    info = invoke("snow", "inspect", str(tmp_path / "20170402_01_003.mat"), "--json", "--survey-year", "2009").json()
    assert info["survey_year"] == 2009 and info["layer_years"][0] == 2008
    _, summary = load_radargram_folder(tmp_path)
    assert summary.to_dict()["survey_years"] == {"2017": 1}
