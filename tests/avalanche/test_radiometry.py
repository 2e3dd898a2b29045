"""Radiometry as data and nodata end to end: bands by name, any dtype, stored statistics, nodata masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyogrio.raw import read
from shapely.geometry import box

from nivalis.avalanche.io import (
    BandSelection,
    GeoRef,
    Scene,
    read_raster,
    resolve_bands,
    write_geotiff,
    write_image,
)
from nivalis.avalanche.models import build_classifier
from nivalis.avalanche.predict import predict_image
from nivalis.avalanche.simulate import simulate_dataset
from nivalis.avalanche.train import radiometry
from nivalis.avalanche.windows import WindowStream
from nivalis.errors import UserError

from .conftest import randomize_batchnorm

UTM = GeoRef("EPSG:32613", (2.0, 0.0, 400_000.0, 0.0, -2.0, 4_400_000.0))
BGRN = ["blue", "green", "red", "nir"]


def _bgrn_scene(size=96, seed=0, border=12):
    """uint16 B,G,R,NIR reflectance × 10000 with a nodata = 0 strip on the left."""
    rng = np.random.default_rng(seed)
    bands = rng.integers(1500, 9000, (size, size, 4)).astype(np.uint16)
    bands[:, :border] = 0
    return bands


def _classifier(window=9, seed=0):
    torch.manual_seed(seed)
    clf = build_classifier("cnn", window, 3, mean=[5000.0, 5200.0, 4800.0], std=[2000.0, 2100.0, 1900.0],
                           dtype="uint16")
    randomize_batchnorm(clf, seed)
    clf.eval()
    clf.meta = {"threshold": 0.5, "radiometry": {"bands": ["red", "green", "blue"], "dtype": "uint16"}}
    return clf


def _band1(path):
    with rasterio.open(path) as ds:
        return ds.read(1)


def test_band_selection_is_parsed_once_and_passes_through():
    sel = BandSelection.parse(" Red,green ,3")
    assert sel.items == ("red", "green", 3) and len(sel) == 3 and str(sel) == "red,green,3"
    assert BandSelection.parse(sel) is sel and BandSelection.parse(None) is None
    assert BandSelection.parse(["nir", 1]).items == ("nir", 1)
    assert resolve_bands(BandSelection.parse("nir,1"), BGRN, Path("x.tif")) == [3, 0]
    for bad in ("", "red,,blue", []):
        with pytest.raises(UserError, match="--bands must be"):
            BandSelection.parse(bad)


def test_bands_by_description_never_bgr_as_rgb(tmp_path):
    assert resolve_bands(None, BGRN, tmp_path) == [2, 1, 0]               # described: red, green, blue by name
    assert resolve_bands(None, ["", "", ""], tmp_path) == [0, 1, 2]       # an undescribed 3-band file is RGB
    assert resolve_bands(["nir", 1], BGRN, tmp_path) == [3, 0]
    with pytest.raises(UserError, match="--bands"):
        resolve_bands(None, ["", "", "", ""], tmp_path)                   # 4 undescribed bands: say which
    with pytest.raises(UserError, match="no band described as 'swir'"):
        resolve_bands(["swir"], BGRN, tmp_path)
    with pytest.raises(UserError, match="bands 1..4"):
        resolve_bands([5], BGRN, tmp_path)
    write_geotiff(tmp_path / "s.tif", _bgrn_scene(32), UTM, nodata=0, descriptions=BGRN)
    r = read_raster(tmp_path / "s.tif")
    assert r.band_names == ("red", "green", "blue") and r.image.dtype == np.uint16
    assert np.array_equal(r.image, _bgrn_scene(32)[..., [2, 1, 0]])
    assert read_raster(tmp_path / "s.tif", "red,green,blue,nir").image.shape == (32, 32, 4)


def test_nodata_sources_become_the_valid_mask(tmp_path):
    write_geotiff(tmp_path / "nd.tif", _bgrn_scene(32, border=5), UTM, nodata=0, descriptions=BGRN)
    valid = read_raster(tmp_path / "nd.tif").valid
    assert valid is not None and not valid[:, :5].any() and valid[:, 5:].all()
    data = np.random.default_rng(1).random((20, 20, 3)).astype(np.float32)
    data[3, 4, 1] = np.nan
    write_geotiff(tmp_path / "nan.tif", data, UTM)
    valid = read_raster(tmp_path / "nan.tif").valid
    assert not valid[3, 4] and valid.sum() == 399
    rgba = np.full((10, 10, 4), 200, np.uint8)
    rgba[:2, :, 3] = 0
    import cv2

    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    r = read_raster(tmp_path / "a.png")
    assert r.image.shape == (10, 10, 1) or r.image.shape == (10, 10, 3)
    assert not r.valid[:2].any() and r.valid[2:].all()
    write_image(tmp_path / "full.png", np.full((10, 10, 3), 7, np.uint8))
    assert read_raster(tmp_path / "full.png").valid is None


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(r0=st.integers(0, 30), c0=st.integers(0, 30), h=st.integers(40, 60), w=st.integers(40, 60))
def test_a_crop_gives_the_same_probabilities_as_the_full_scene(tmp_path_factory, r0, c0, h, w):
    """Per-file stretching made these differ by up to 0.67; with stored statistics they agree wherever the
    window lies inside the crop (and nodata stays nodata)."""
    tmp = tmp_path_factory.mktemp("crop")
    full = _bgrn_scene(96)
    crop = full[r0:r0 + h, c0:c0 + w]
    write_geotiff(tmp / "full.tif", full, UTM, nodata=0, descriptions=BGRN)
    write_geotiff(tmp / "crop.tif", crop, UTM, nodata=0, descriptions=BGRN)
    clf = _classifier()
    predict_image(tmp / "full.tif", clf, tmp / "a", min_area_px=1)
    predict_image(tmp / "crop.tif", clf, tmp / "b", min_area_px=1)
    with rasterio.open(tmp / "a" / "full_probability.tif") as a, rasterio.open(tmp / "b" / "crop_probability.tif") as b:
        pa, pb = a.read(1)[r0:r0 + h, c0:c0 + w], b.read(1)
        assert np.isnan(b.nodata)
    m = clf.window // 2
    inner = (slice(m, h - m), slice(m, w - m))
    assert np.array_equal(np.isnan(pa), np.isnan(pb)) and np.isnan(pb).any() == (c0 < 12)
    np.testing.assert_allclose(pa[inner], pb[inner], atol=1e-4, equal_nan=True)


def test_outputs_carry_nodata_and_no_polygon_touches_it(tmp_path):
    scene = _bgrn_scene(64, border=10)
    write_geotiff(tmp_path / "s.tif", scene, UTM, nodata=0, descriptions=BGRN)
    clf = _classifier()
    result = predict_image(tmp_path / "s.tif", clf, tmp_path / "o", threshold=0.0, min_area_px=1)
    with rasterio.open(result["mask"]) as ds:
        mask, nodata = ds.read(1), ds.nodata
        assert ds.tags()["model"] == "cnn" and ds.tags()["bands"] == "red,green,blue"
    assert nodata == 255 and (mask[:, :10] == 255).all() and set(np.unique(mask[:, 10:])) <= {0, 1}
    with rasterio.open(result["probability"]) as ds:
        p = ds.read(1)
    assert np.isnan(p[:, :10]).all() and np.isfinite(p[:, 10:]).all()
    nodata_area = box(*UTM.bounds(64, 10))
    polys = [shapely.from_wkb(g) for g in read(result["gpkg"])[2]]
    assert polys and all(p.is_valid for p in polys)
    for p in polys:
        assert p.intersection(nodata_area).area == 0


def test_prediction_uses_the_stored_statistics_not_the_files(tmp_path):
    """A linear rescale of the file changes the prediction (no per-file normalisation), and the same pixels
    give the same output whatever the rest of the file holds."""
    scene = _bgrn_scene(48, border=0)
    write_geotiff(tmp_path / "a.tif", scene, UTM, descriptions=BGRN)
    brighter = scene.copy()
    brighter[:, 24:] = np.minimum(brighter[:, 24:].astype(np.int64) * 3, 60000).astype(np.uint16)
    write_geotiff(tmp_path / "b.tif", brighter, UTM, descriptions=BGRN)
    write_geotiff(tmp_path / "c.tif", (scene // 2).astype(np.uint16), UTM, descriptions=BGRN)
    clf = _classifier()
    out = {k: predict_image(tmp_path / f"{k}.tif", clf, tmp_path / k)["probability"] for k in "abc"}
    pa, pb, pc = (_band1(out[k]) for k in "abc")
    np.testing.assert_allclose(pa[:, :16], pb[:, :16], atol=1e-6)  # left half's windows unchanged
    assert np.abs(pa - pc).max() > 1e-3                              # a rescaled file is a different input


def test_band_and_dtype_mismatch_are_one_line_errors(tmp_path):
    clf = _classifier()
    write_geotiff(tmp_path / "s.tif", _bgrn_scene(32), UTM, descriptions=BGRN)
    with pytest.raises(UserError, match="trained on red,green,blue"):
        predict_image(tmp_path / "s.tif", clf, tmp_path / "o", bands="blue,green,red")
    write_image(tmp_path / "rgb.png", np.full((32, 32, 3), (9, 90, 200), np.uint8))
    with pytest.raises(UserError, match="uint8 pixels but the model was trained on uint16") as exc:
        predict_image(tmp_path / "rgb.png", clf, tmp_path / "o")
    assert "\n" not in str(exc.value)
    write_geotiff(tmp_path / "u.tif", _bgrn_scene(32), UTM)  # 4 undescribed bands
    with pytest.raises(UserError, match="trained on 3 channel.*red,green,blue"):
        predict_image(tmp_path / "u.tif", clf, tmp_path / "o")


def test_statistics_are_over_valid_pixels_and_nodata_is_never_a_window_centre():
    rng = np.random.default_rng(0)
    image = rng.integers(1000, 3000, (40, 40, 3)).astype(np.uint16)
    valid = np.ones((40, 40), bool)
    valid[:, :8] = False
    image[~valid] = 0
    mask = np.zeros((40, 40), bool)
    mask[10:20, 4:20] = True  # partly under the nodata strip
    scene = Scene("s", image, mask & valid, valid=valid, band_names=("red", "green", "blue"))
    radio = radiometry([scene], 3)
    assert radio["dtype"] == "uint16" and radio["scale"] == 1.0 and radio["bands"] == ["red", "green", "blue"]
    np.testing.assert_allclose(radio["mean"], image[valid].mean(0), rtol=1e-9)
    stream = WindowStream([scene], 9, 3, 512, prepare=lambda w: torch.from_numpy(w.astype(np.float32)), seed=1)
    s, flat, labels = stream._draw(np.random.default_rng(0), 512)
    assert valid.flat[flat].all() and labels.sum() == 256


def test_simulator_writes_four_band_uint16_with_a_nodata_border(tmp_path):
    simulate_dataset(tmp_path, scenes=2, seed=1, size=(64, 64), image_format="geotiff16")
    with rasterio.open(tmp_path / "images" / "scene_000.tif") as ds:
        assert ds.count == 4 and ds.dtypes[0] == "uint16" and ds.nodata == 0
        assert list(ds.descriptions) == BGRN
        border = ds.dataset_mask() == 0
    assert 0.05 < border.mean() < 0.35
    with rasterio.open(tmp_path / "masks" / "scene_000.tif") as ds:
        assert not ds.read(1)[border].any()


def test_windowed_prediction_equals_the_in_memory_one_and_writes_cogs(tmp_path):
    """Tiles of 32 px with the receptive-field overlap, reflected only at the scene's edges: same map."""
    from pyogrio.raw import read

    scene = _bgrn_scene(100, border=7)
    scene[60:, 80:] = 0  # nodata inside a tile corner too
    write_geotiff(tmp_path / "s.tif", scene, UTM, nodata=0, descriptions=BGRN)
    clf = _classifier()
    a = predict_image(tmp_path / "s.tif", clf, tmp_path / "a", tile=32, windowed=True, min_area_px=1)
    b = predict_image(tmp_path / "s.tif", clf, tmp_path / "b", tile=32, windowed=False, min_area_px=1)
    assert a["windowed"] and not b["windowed"]
    pa, pb = _band1(a["probability"]), _band1(b["probability"])
    assert np.array_equal(np.isnan(pa), np.isnan(pb)) and np.isnan(pa)[60:, 80:].all()
    np.testing.assert_allclose(pa, pb, atol=1e-5, equal_nan=True)
    np.testing.assert_array_equal(_band1(a["mask"]), _band1(b["mask"]))
    ga, gb = read(a["gpkg"]), read(b["gpkg"])
    assert len(ga[2]) == len(gb[2]) and a["avalanches"] == b["avalanches"]
    np.testing.assert_allclose(ga[3][ga[0]["fields"].tolist().index("mean_prob")],
                               gb[3][gb[0]["fields"].tolist().index("mean_prob")], atol=1e-3)
    with rasterio.open(a["probability"]) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG" and ds.tags()["model"] == "cnn"


def test_windowed_prediction_opens_its_input_once(tmp_path, monkeypatch):
    """The header (bands checked against the model), the tiles and the overlay come from one open dataset."""
    write_geotiff(tmp_path / "s.tif", _bgrn_scene(40), UTM, nodata=0, descriptions=BGRN)
    opened, real_open = [], rasterio.open
    monkeypatch.setattr(rasterio, "open", lambda path, *a, **k: opened.append(Path(path).name) or real_open(path, *a, **k))
    result = predict_image(tmp_path / "s.tif", _classifier(), tmp_path / "o", tile=16, bands="red,green,blue")
    assert result["windowed"] and opened.count("s.tif") == 1


def test_cog_outputs_have_overviews(tmp_path):
    write_geotiff(tmp_path / "big.tif", _bgrn_scene(1100, border=50), UTM, nodata=0, descriptions=BGRN)
    result = predict_image(tmp_path / "big.tif", _classifier(), tmp_path / "o", tile=512)
    for key in ("probability", "mask"):
        with rasterio.open(result[key]) as ds:
            assert ds.overviews(1) and ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    with rasterio.open(result["probability"]) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "3"  # floating-point predictor


def test_a_gray_model_trained_on_rgb_still_takes_gray_and_rgb_images(tmp_path):
    clf = build_classifier("cnn", 9, 1, mean=[0.5], std=[0.2])
    clf.eval()
    clf.meta = {"threshold": 0.5, "radiometry": {"bands": ["red", "green", "blue"], "dtype": "uint8"}}
    write_image(tmp_path / "gray.png", np.random.default_rng(0).integers(0, 255, (32, 32), dtype=np.uint8))
    write_image(tmp_path / "rgb.png", np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    for name in ("gray", "rgb"):
        assert predict_image(tmp_path / f"{name}.png", clf, tmp_path / name)["height"] == 32


def test_a_vrt_mosaic_of_tiles_predicts_as_the_whole_scene(tmp_path):
    full = _bgrn_scene(64, border=6)
    write_geotiff(tmp_path / "full.tif", full, UTM, nodata=0, descriptions=BGRN)
    right = GeoRef(UTM.crs, (2.0, 0.0, 400_000.0 + 2.0 * 32, 0.0, -2.0, 4_400_000.0))
    write_geotiff(tmp_path / "left.tif", full[:, :32], UTM, nodata=0, descriptions=BGRN)
    write_geotiff(tmp_path / "right.tif", full[:, 32:], right, nodata=0, descriptions=BGRN)
    bands = []
    for k, name in enumerate(BGRN, start=1):
        sources = "".join(
            f"<ComplexSource><SourceFilename relativeToVRT=\"1\">{f}</SourceFilename><SourceBand>{k}</SourceBand>"
            f"<SrcRect xOff=\"0\" yOff=\"0\" xSize=\"32\" ySize=\"64\"/>"
            f"<DstRect xOff=\"{x}\" yOff=\"0\" xSize=\"32\" ySize=\"64\"/><NODATA>0</NODATA></ComplexSource>"
            for f, x in (("left.tif", 0), ("right.tif", 32)))
        bands.append(f"<VRTRasterBand dataType=\"UInt16\" band=\"{k}\"><Description>{name}</Description>"
                     f"<NoDataValue>0</NoDataValue>{sources}</VRTRasterBand>")
    (tmp_path / "mosaic.vrt").write_text(
        f"<VRTDataset rasterXSize=\"64\" rasterYSize=\"64\"><SRS>EPSG:32613</SRS>"
        f"<GeoTransform>400000, 2, 0, 4400000, 0, -2</GeoTransform>{''.join(bands)}</VRTDataset>")
    clf = _classifier()
    a = predict_image(tmp_path / "full.tif", clf, tmp_path / "a")
    b = predict_image(tmp_path / "mosaic.vrt", clf, tmp_path / "b")
    assert b["windowed"] and b["crs"] == "EPSG:32613"
    np.testing.assert_allclose(_band1(a["probability"]), _band1(b["probability"]), atol=1e-6, equal_nan=True)


def test_a_scene_far_from_the_training_radiometry_is_predicted_with_a_warning(tmp_path):
    """The result says which bands and scaling were used and how far the scene's band means lie from the
    checkpoint's (in its training σ); digital numbers given to a reflectance model (×7 here) are warned about."""
    scene = _bgrn_scene(48, border=0)
    write_geotiff(tmp_path / "ok.tif", scene, UTM, descriptions=BGRN)
    write_geotiff(tmp_path / "dn.tif", (scene.astype(np.int64) * 7).astype(np.uint16), UTM, descriptions=BGRN)
    clf = _classifier()
    ok = predict_image(tmp_path / "ok.tif", clf, tmp_path / "a")  # no warning: warnings are errors in these tests
    assert ok["bands"] == ["red", "green", "blue"] and ok["georeferencing"] == "transform"
    assert ok["scaling"] == {"dtype": "uint16", "factor": 1.0, "mean": [5000.0, 5200.0, 4800.0],
                             "std": [2000.0, 2100.0, 1900.0]}
    red = scene[..., 2].astype(np.float64).mean()
    assert ok["radiometry_sigma_bands"][0] == pytest.approx(abs(red - 5000.0) / 2000.0, abs=0.01)
    assert ok["radiometry_sigma"] == max(ok["radiometry_sigma_bands"]) < 1.0
    sigma = {}
    for windowed in (True, False):  # a decimated read of the streamed scene, the whole in-memory scene
        with pytest.warns(UserWarning, match=r"σ from the model's training statistics \(band \d of red,green,blue"):
            far = predict_image(tmp_path / "dn.tif", clf, tmp_path / f"b{windowed}", windowed=windowed)
        assert far["windowed"] is windowed and far["bands"] == ["red", "green", "blue"]
        sigma[windowed] = far["radiometry_sigma"]
    rgb = scene[..., [2, 1, 0]].reshape(-1, 3).astype(np.float64).mean(0)
    expected = np.abs(7 * rgb - [5000.0, 5200.0, 4800.0]) / [2000.0, 2100.0, 1900.0]
    assert sigma[False] == pytest.approx(expected.max(), abs=0.01) and sigma[False] > 10
    assert sigma[True] == pytest.approx(sigma[False], rel=0.05)


@pytest.mark.parametrize("tile", [512, 700])
def test_overlay_pixels_picked_from_the_tiles_equal_gdals_decimated_read(tmp_path, tile):
    """The windowed map keeps the overlay's input pixels as it reads its tiles; they are the pixels (and validity)
    a nearest-neighbour decimated read of the file gives, so the overlay needs no second pass over the input."""
    from rasterio.enums import Resampling

    from nivalis.avalanche.stream import _OverlaySamples, _reflect_read, tile_grid

    scene = _bgrn_scene(2100, border=130)
    scene[1500:1800, 900:1400] = 0  # nodata inside too
    write_geotiff(tmp_path / "s.tif", scene[:, :1900], UTM, nodata=0, descriptions=BGRN)
    index = [2, 1, 0]
    with rasterio.open(tmp_path / "s.tif") as ds:
        samples = _OverlaySamples(ds.height, ds.width, 3)
        for r0, c0, th, tw in tile_grid(ds.height, ds.width, tile):
            image, valid = _reflect_read(ds, index, r0, c0, th, tw, 16, 16)
            samples.add(r0, c0, image[16:16 + th, 16:16 + tw], valid[16:16 + th, 16:16 + tw])
        shape = samples.valid.shape
        assert max(shape) <= 1024 and shape == (2100 // 3, 1900 // 3)
        read_image = np.moveaxis(ds.read([i + 1 for i in index], out_shape=(3, *shape),
                                         resampling=Resampling.nearest), 0, -1)
        np.testing.assert_array_equal(samples.image, read_image)
        np.testing.assert_array_equal(samples.valid, ds.dataset_mask(out_shape=shape) > 0)
        assert 0.05 < 1 - samples.valid.mean() < 0.3
