"""Rasters without a plain geotransform: GCP/RPC scenes warped onto a map grid, unreferenced TIFFs in pixels."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
import torch
from pyogrio import read_info
from pyogrio.raw import read
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.rpc import RPC
from rasterio.shutil import copy
from shapely.geometry import Polygon, box

from nivalis.avalanche.config import AvalancheConfig
from nivalis.avalanche.io import read_raster
from nivalis.avalanche.models import build_classifier, classifier_meta
from nivalis.avalanche.predict import predict_image
from nivalis.cli.app import main
from nivalis.engine import save_checkpoint
from nivalis.errors import UserError

from .conftest import randomize_batchnorm

# rasterio's own notice when these test files are written without a geotransform, as they are meant to be
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

SIZE = 64
# a scene 64 px a side, rotated by about 24° in UTM 13N: pixel (row, col) → (x, y), exactly affine
ORIGIN, ALONG_COL, ALONG_ROW = (500_000.0, 4_400_000.0), (1.8, -0.8), (-0.8, -1.8)


def _utm(row: float, col: float) -> tuple[float, float]:
    return (ORIGIN[0] + ALONG_COL[0] * col + ALONG_ROW[0] * row, ORIGIN[1] + ALONG_COL[1] * col + ALONG_ROW[1] * row)


GCPS = [GroundControlPoint(row=r, col=c, x=_utm(r, c)[0], y=_utm(r, c)[1], id=str(k))
        for k, (r, c) in enumerate([(0, 0), (0, SIZE), (SIZE, 0), (SIZE, SIZE), (32, 16)])]
FOOTPRINT = Polygon([_utm(0, 0), _utm(0, SIZE), _utm(SIZE, SIZE), _utm(SIZE, 0)])


def _blocks(seed: int = 0) -> np.ndarray:
    """[3, 64, 64] uint8 of 8 × 8 blocks of one random colour each (1..255: 0 stays free for nodata)."""
    colours = np.random.default_rng(seed).integers(1, 256, (3, 8, 8), dtype=np.uint8)
    return np.repeat(np.repeat(colours, 8, axis=1), 8, axis=2)


def _plain_tiff(path: Path, data: np.ndarray, **profile) -> Path:
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0],
                       dtype=data.dtype.name, **profile) as ds:
        ds.write(data)
    return path


def _gcp_vrt(tmp_path: Path, crs="EPSG:32613") -> Path:
    """A VRT over a TIFF without georeferencing, placed by ground control points (as GDAL writes them)."""
    source = _plain_tiff(tmp_path / "raw.tif", _blocks())
    copy(str(source), str(tmp_path / "scene.vrt"), driver="VRT")
    with rasterio.open(tmp_path / "scene.vrt", "r+") as ds:
        ds.gcps = (GCPS, CRS.from_user_input(crs))
    return tmp_path / "scene.vrt"


def _linear_rpc() -> RPC:
    """RPCs of a north-up 64 px scene covering longitude −105.01…−104.99 and latitude 39.99…40.01."""
    def terms(k: int, value: float) -> list[float]:
        out = [0.0] * 20
        out[k] = value
        return out

    return RPC(height_off=0.0, height_scale=100.0, lat_off=40.0, lat_scale=0.01, long_off=-105.0, long_scale=0.01,
               line_off=32.0, line_scale=32.0, samp_off=32.0, samp_scale=32.0, line_num_coeff=terms(2, -1.0),
               line_den_coeff=terms(0, 1.0), samp_num_coeff=terms(1, 1.0), samp_den_coeff=terms(0, 1.0))


def _classifier(window: int = 9) -> torch.nn.Module:
    torch.manual_seed(0)
    clf = build_classifier("cnn", window, 3, mean=[0.5] * 3, std=[0.25] * 3, dtype="uint8")
    randomize_batchnorm(clf)
    clf.eval()
    clf.meta = {"threshold": 0.5}
    return clf


def _polygons(result: dict) -> list:
    return [shapely.from_wkb(g) for g in read(result["gpkg"])[2]]


def test_a_gcp_scene_is_warped_onto_the_map_where_its_gcps_put_it(tmp_path):
    """Each 8 × 8 block's centre pixel lands, in the warped raster, where the GCPs place it."""
    vrt = _gcp_vrt(tmp_path)
    raster = read_raster(vrt)
    georef = raster.georef
    assert georef.source == "gcps" and CRS.from_user_input(georef.crs) == CRS.from_epsg(32613)
    assert georef.transform[1] == georef.transform[3] == 0.0 and georef.transform[4] < 0  # north-up
    source = _blocks()
    for r in range(4, SIZE, 8):
        for c in range(4, SIZE, 8):
            col, row = ~georef.affine * _utm(r + 0.5, c + 0.5)
            assert tuple(raster.image[int(row), int(col)]) == tuple(source[:, r, c])
    # outside the rotated footprint: nodata (an alpha band GDAL adds), inside: valid
    assert raster.valid is not None and 0.3 < raster.valid.mean() < 0.8
    ok = box(*georef.bounds(*raster.valid.shape)).intersection(FOOTPRINT).area / FOOTPRINT.area
    assert ok == pytest.approx(1.0, abs=1e-3)  # the grid GDAL suggests covers the footprint


@pytest.mark.parametrize("refine", ["none", "edges"])  # windowed, and in memory
def test_predict_on_a_gcp_vrt_puts_the_polygons_on_the_gcps_footprint(tmp_path, refine):
    vrt = _gcp_vrt(tmp_path)
    with pytest.warns(UserWarning, match="ground control points"):
        result = predict_image(vrt, _classifier(), tmp_path / "out", threshold=0.0, refine=refine, min_area_px=1)
    assert result["windowed"] is (refine == "none") and result["georeferencing"] == "gcps"
    assert read_info(result["gpkg"])["crs"] == "EPSG:32613"
    polygons = _polygons(result)
    union = shapely.union_all(polygons)
    # threshold 0: every valid pixel is avalanche, so the polygons are the scene's footprint (to a pixel's edge)
    assert union.symmetric_difference(FOOTPRINT).area < 0.1 * FOOTPRINT.area
    doc = json.loads(Path(result["polygons"]).read_text())
    lon, lat = np.array(doc["features"][0]["geometry"]["coordinates"][0]).mean(0)
    assert -105.01 < lon < -104.99 and 39.73 < lat < 39.76  # UTM 13N (500 km E, 4400 km N), never the false origin


def test_predict_on_an_rpc_tiff_uses_its_rpcs(tmp_path):
    path = _plain_tiff(tmp_path / "rpc.tif", _blocks(), rpcs=_linear_rpc(), nodata=0)
    with pytest.warns(UserWarning, match="rational polynomial"):
        result = predict_image(path, _classifier(), tmp_path / "out", threshold=0.0, min_area_px=1)
    assert result["crs"] == "EPSG:4326" and result["georeferencing"] == "rpcs"
    west, south, east, north = shapely.union_all(_polygons(result)).bounds
    step = 0.02 / SIZE
    assert west == pytest.approx(-105.01, abs=step) and east == pytest.approx(-104.99, abs=step)
    assert south == pytest.approx(39.99, abs=step) and north == pytest.approx(40.01, abs=step)


def test_gcps_without_a_crs_are_refused_in_one_line(tmp_path):
    vrt = _gcp_vrt(tmp_path)
    text = vrt.read_text()
    vrt.write_text(re.sub(r'<GCPList Projection="[^"]*"', "<GCPList", text))
    with pytest.raises(UserError, match="ground control points but no CRS") as exc:
        read_raster(vrt)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("windowed", [True, False])
def test_a_tiff_without_georeferencing_is_mapped_in_pixel_coordinates(tmp_path, windowed):
    data = _blocks()
    data[:, :, :10] = 0
    path = _plain_tiff(tmp_path / "plain.tif", data, nodata=0)
    with pytest.warns(UserWarning, match="no georeferencing") as said:
        result = predict_image(path, _classifier(), tmp_path / "out", threshold=0.0, min_area_px=1, windowed=windowed)
    assert len([w for w in said if "georeferencing" in str(w.message)]) == 1  # said once
    assert result["polygons"] is None and result["crs"] is None and result["georeferencing"] == "none"
    assert read_info(result["gpkg"])["crs"] is None
    (poly,) = _polygons(result)
    assert poly.equals(box(10, 0, SIZE, SIZE))  # x = column, y = row: the valid part of the scene
    fields = read(result["gpkg"])[3]
    names = read_info(result["gpkg"])["fields"].tolist()
    props = dict(zip(names, (f[0] for f in fields)))
    assert props["area_px"] == 54 * SIZE and 0.0 < props["mean_prob"] <= props["max_prob"] <= 1.0


def test_cli_predict_on_a_gcp_vrt_and_a_plain_tiff_exits_0(tmp_path, capsys):
    """`nivalis avalanche predict` as a user runs it: no traceback, outputs where the file says."""
    ckpt = tmp_path / "ckpt.pt"
    clf = _classifier()
    save_checkpoint(ckpt, {"model": clf.state_dict(), "meta": classifier_meta(clf, AvalancheConfig(window=9))
                           | {"threshold": 0.0}})
    vrt = _gcp_vrt(tmp_path)
    plain = _plain_tiff(tmp_path / "plain.tif", _blocks())
    for image, where in ((vrt, "ground control points"), (plain, "no georeferencing")):
        with pytest.warns(UserWarning, match=where), pytest.raises(SystemExit) as exc:
            main(["avalanche", "predict", str(image), "--checkpoint", str(ckpt), "--out", str(tmp_path / image.stem),
                  "--json", "--min-area", "1"])
        out = capsys.readouterr()
        assert exc.value.code == 0 and "Traceback" not in out.err
        result = json.loads(out.out)
        assert result["avalanches"] >= 1 and Path(result["gpkg"]).is_file()
