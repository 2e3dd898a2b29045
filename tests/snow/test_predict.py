"""`nivalis snow predict` in physical units, as a GeoPackage, and with roles told by file content."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
import torch

from nivalis.snow import load_radargram
from nivalis.snow.graphs import haversine_m
from nivalis.snow.predict import epsg3413
from nivalis.snow.units import density_g_cm3
from tests.snow.test_cli import assert_user_error, run, run_json

PIXEL_M = 0.03


@pytest.fixture(scope="module")
def trained(campaign, tmp_path_factory):
    """A 1-epoch GCN checkpoint of the simulated campaign."""
    from nivalis.cli.app import main

    out = tmp_path_factory.mktemp("snow_predict_run")
    with pytest.raises(SystemExit) as info:
        main(["snow", "train", "--data", str(campaign), "--model", "gcn", "--epochs", "1", "--out", str(out),
              "--quiet", "--json"])
    assert info.value.code == 0
    return out / "checkpoint.pt"


def _usable(campaign):
    return [p for p in sorted(campaign.glob("*.mat")) if load_radargram(p).usability()[0]]


def test_train_stores_content_hashes(trained):
    meta = torch.load(trained, weights_only=False)["meta"]
    assert len(meta["train_sha256"]) == len(meta["train_files"])
    assert len(meta["test_sha256"]) == len(meta["test_files"])
    assert all(len(key) == 64 for key in meta["train_sha256"])


def test_predict_mwe_is_the_hand_computation(capsys, campaign, trained, tmp_path):
    usable = _usable(campaign)[0]
    pred = run_json(capsys, "snow", "predict", str(usable), "--checkpoint", str(trained), "--csv",
                    str(tmp_path / "p.csv"), "--pixel-m", str(PIXEL_M))
    radargram = load_radargram(usable)
    assert radargram.twtt is None and "curr_dens" in radargram.fields   # simulated: no Time axis, curr_dens kg/m³
    px = np.asarray(pred["thickness_px"])                                 # [P, N]
    dens = density_g_cm3(radargram.fields["curr_dens"])[pred["layer_index"]]
    hand_m = px * PIXEL_M
    hand_mwe = hand_m * dens                                              # m of firn × g/cm³ = m w.e.
    np.testing.assert_allclose(pred["thickness_m"], hand_m, rtol=1e-5)
    np.testing.assert_allclose(pred["thickness_mwe"], hand_mwe, rtol=1e-5)
    assert pred["units"] == {"depth_from": ["pixel size"], "density": ["curr_dens"]}
    for k, year in enumerate(pred["years"]):
        assert pred["mean"]["thickness_mwe"][year] == pytest.approx(hand_mwe[k].mean(), rel=1e-5)
        assert pred["mean"]["thickness_px"][year] == pytest.approx(px[k].mean(), rel=1e-5)
    with open(pred["csv"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert all(name[0].isalpha() and len(name) <= 10 for name in rows[0])
    np.testing.assert_allclose([[float(r[f"mwe{y}"]) for r in rows] for y in pred["years"]], hand_mwe, atol=2e-6)
    tracked = radargram.thickness()[pred["layer_index"]] * PIXEL_M * dens
    np.testing.assert_allclose([[float(r[f"trkmwe{y}"]) for r in rows] for y in pred["years"]], tracked, atol=2e-6)
    # the folder: overall and per-file means per year
    folder = run_json(capsys, "snow", "predict", str(campaign), "--checkpoint", str(trained),
                      "--pixel-m", str(PIXEL_M))
    assert folder["files"][usable.stem]["thickness_mwe"] == pytest.approx(pred["mean"]["thickness_mwe"], rel=1e-4)
    assert set(folder["thickness_mwe"]) == set(pred["years"])


def test_predict_gpkg(capsys, campaign, trained, tmp_path):
    import pyogrio

    out = tmp_path / "sub" / "pred.gpkg"
    pred = run_json(capsys, "snow", "predict", str(campaign), "--checkpoint", str(trained), "--gpkg", str(out),
                    "--epsg3413", "--csv", str(tmp_path / "p.csv"))
    assert pred["gpkg"] == str(out) and not list(out.parent.glob(".*tmp*"))
    info = pyogrio.read_info(out)
    assert info["crs"] == "EPSG:4326" and info["geometry_type"] == "Point"
    assert info["features"] == 256 * pred["predicted"]
    meta, fids, geometry, fields = pyogrio.raw.read(out)
    names = list(meta["fields"])
    with open(pred["csv"], newline="") as fh:
        header = next(csv.reader(fh))
    assert names == header and names[-3:] == ["along_m", "x_3413", "y_3413"]  # the CSV holds the same columns
    col = dict(zip(names, fields))
    with open(pred["csv"], newline="") as fh:
        table = list(csv.DictReader(fh))
    for name in ("along_m", "x_3413", "y_3413", "latitude", "mwe2011"):
        np.testing.assert_allclose([float(r[name]) for r in table], col[name], atol=1e-3)
    import shapely

    points = shapely.from_wkb(geometry)
    np.testing.assert_allclose(shapely.get_x(points), col["longitude"], atol=1e-9)
    np.testing.assert_allclose(shapely.get_y(points), col["latitude"], atol=1e-9)
    first = next(iter(pred["files"]))
    mine = col["file"] == first
    lat, lon, along = col["latitude"][mine], col["longitude"][mine], col["along_m"][mine]
    assert along[0] == 0 and np.all(np.diff(along) >= 0)
    assert along[-1] == pytest.approx(haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]).sum(), rel=1e-9)
    x, y = epsg3413(lat, lon)
    np.testing.assert_allclose(col["x_3413"][mine], x)
    np.testing.assert_allclose(col["y_3413"][mine], y)
    assert set(col["role"]) <= {"train", "test"}


def test_epsg3413_matches_proj():
    from rasterio.crs import CRS
    from rasterio.warp import transform

    lon = np.array([-45.0, -38.5, 0.0, -60.25, 30.0, -120.0])
    lat = np.array([90.0, 72.6, 60.0, 81.5, 85.0, 45.0])
    xs, ys = transform(CRS.from_epsg(4326), CRS.from_epsg(3413), lon.tolist(), lat.tolist())
    x, y = epsg3413(lat, lon)
    np.testing.assert_allclose(x, xs, atol=1.0)
    np.testing.assert_allclose(y, ys, atol=1.0)


def test_renamed_training_file_is_still_train(capsys, campaign, trained, tmp_path):
    meta = torch.load(trained, weights_only=False)["meta"]
    name = meta["train_files"][0]
    copy = tmp_path / "renamed_copy.mat"
    shutil.copy(campaign / f"{name}.mat", copy)
    pred = run_json(capsys, "snow", "predict", str(copy), "--checkpoint", str(trained))
    assert pred["role"] == "train" and pred["role_by"] == "sha256"
    # a checkpoint written before the hashes were stored: names decide, and a note says so
    state = torch.load(trained, weights_only=False)
    del state["meta"]["train_sha256"], state["meta"]["test_sha256"]
    old = tmp_path / "old.pt"
    torch.save(state, old)
    code, out, err = run(capsys, "snow", "predict", str(copy), "--checkpoint", str(old))
    assert code == 0 and "by file name" in err and "new radargram" in out and "m w.e." in out
    code, out, err = run(capsys, "snow", "predict", str(tmp_path), "--checkpoint", str(old))
    assert code == 0 and "m w.e." in out, err
    original = run_json(capsys, "snow", "predict", str(campaign / f"{name}.mat"), "--checkpoint", str(old))
    assert original["role"] == "train" and original["role_by"] == "name" and "role_note" in original


def test_predict_gpkg_errors(capsys, campaign, trained, tmp_path):
    usable = str(_usable(campaign)[0])
    (tmp_path / "dir.gpkg").mkdir()
    assert_user_error(*run(capsys, "snow", "predict", usable, "--checkpoint", str(trained), "--gpkg",
                           str(tmp_path / "dir.gpkg")), "folder")
    assert_user_error(*run(capsys, "snow", "predict", usable, "--checkpoint", str(trained), "--gpkg",
                           str(tmp_path / "x.shp")), ".gpkg")
    assert_user_error(*run(capsys, "snow", "predict", usable, "--checkpoint", str(trained), "--epsg3413"),
                      "--csv or --gpkg")
    assert [p.name for p in tmp_path.iterdir()] == ["dir.gpkg"]


def test_predict_metres_from_a_time_axis(capsys, campaign, trained, tmp_path):
    """With an echogram Time axis of step dt, a predicted row step is dt of travel time: px · pixel_size_m(dt, ρ)."""
    from nivalis.snow.readers.layers_vector import radargram_variables, write_radargram
    from nivalis.snow.units import pixel_size_m

    usable = _usable(campaign)[0]
    radargram = load_radargram(usable)
    dt = 2.5e-10
    variables = radargram_variables(radargram)
    variables["Time"] = (np.arange(4000) * dt)[:, None]
    timed = tmp_path / "timed.mat"
    write_radargram(timed, variables, fmt="v5")
    assert load_radargram(timed).twtt is not None
    pred = run_json(capsys, "snow", "predict", str(timed), "--checkpoint", str(trained))
    assert pred["units"]["depth_from"] == ["travel time"]
    px = np.asarray(pred["thickness_px"])
    dens = density_g_cm3(radargram.fields["curr_dens"])[pred["layer_index"]]
    hand_m = px * np.vectorize(pixel_size_m)(dt, dens)
    np.testing.assert_allclose(pred["thickness_m"], hand_m, rtol=1e-5)
    np.testing.assert_allclose(pred["thickness_mwe"], hand_m * dens, rtol=1e-5)
