"""Masks → polygons → GeoJSON: exact pixel outlines, holes, map coordinates of georeferenced scenes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyogrio import read_info
from pyogrio.raw import read
from shapely.geometry import Polygon, shape

from nivalis.avalanche.io import GeoRef
from nivalis.avalanche.simulate import rasterize
from nivalis.avalanche.vectorize import mask_to_polygons, polygon_attributes, polygons_geojson, write_polygons
from nivalis.errors import UserError

UTM = GeoRef("EPSG:32613", (2.0, 0.0, 400_000.0, 0.0, -2.0, 4_400_000.0))


def test_polygon_area_is_the_pixel_count_and_holes_are_kept():
    mask = np.zeros((30, 40), bool)
    mask[5:20, 5:25] = True
    mask[10:13, 10:14] = False  # a hole
    mask[25:28, 30:33] = True   # a second region
    mask[0, 39] = True          # noise below min_area
    polys = mask_to_polygons(mask, min_area_px=4)
    assert len(polys) == 2
    assert polys[0].area == 15 * 20 - 12 and len(polys[0].interiors) == 1
    assert polys[1].area == 9 and polys[1].bounds == (30.0, 25.0, 33.0, 28.0)  # x = column, y = row


def test_round_trip_of_a_simulated_outline():
    outline = Polygon([(10, 5), (40, 8), (45, 30), (20, 35), (8, 20)])
    mask = rasterize([outline], (50, 60))
    poly = mask_to_polygons(mask)[0]
    assert poly.area == mask.sum()
    # pixel-edge outline vs pixel-centre outline: same region within half a pixel
    assert outline.symmetric_difference(poly).area / outline.area < 0.1


def test_georeferenced_polygons_are_in_map_coordinates(tmp_path):
    mask = np.zeros((30, 40), bool)
    mask[3:7, 2:10] = True
    poly = mask_to_polygons(mask, UTM)[0]
    assert poly.bounds == (400_004.0, 4_400_000.0 - 14.0, 400_020.0, 4_400_000.0 - 6.0)
    assert poly.area == 32 * 4.0  # m²
    prob = np.where(mask, 0.8, 0.1).astype(np.float32)
    out = write_polygons(tmp_path, "p", [poly], UTM, prob, mask)
    _, _, geometry, fields = read(out["gpkg"])
    meta = read_info(out["gpkg"])
    assert meta["crs"] == "EPSG:32613" and shapely.from_wkb(geometry[0]).equals(poly)
    props = dict(zip(meta["fields"], [f[0] for f in fields]))
    assert props["area_px"] == 32 and props["area_m2"] == 128 and props["mean_prob"] == 0.8
    doc = json.loads(Path(out["polygons"]).read_text())
    assert doc["features"][0]["properties"]["area_m2"] == 128 and out["georeferenced"] is True


def _check_rfc7946(doc):
    assert "crs" not in doc and doc["type"] == "FeatureCollection"
    for f in doc["features"]:
        geom = shape(f["geometry"])
        assert geom.is_valid
        for p in getattr(geom, "geoms", [geom]):
            assert p.exterior.is_ccw and all(not r.is_ccw for r in p.interiors)
            lon, lat = np.asarray(p.exterior.coords).T
            assert (-180 <= lon).all() and (lon <= 180).all() and (-90 <= lat).all() and (lat <= 90).all()
        text = json.dumps(f["geometry"]["coordinates"])
        assert all(len(t.split(".")[1].rstrip("]").rstrip(",")) <= 7 for t in text.replace(" ", "").split(",")
                   if "." in t)


def test_diagonal_touching_blobs_give_valid_polygons_and_an_rfc7946_geojson(tmp_path):
    """8-connected outlines of corner-touching pixels made self-touching, invalid rings (719 of 1,928)."""
    mask = np.zeros((40, 40), bool)
    mask[5:15, 5:15] = True
    mask[15:25, 15:25] = True          # touches the first at one corner
    mask[8:12, 8:12] = False
    mask[12, 8] = True                 # hole's corner touching
    rng = np.random.default_rng(0)
    mask[26:40, 0:40] = rng.random((14, 40)) < 0.5  # salt and pepper: many diagonal contacts
    polys = mask_to_polygons(mask, UTM, min_area_px=1)
    assert polys and all(p.is_valid for p in polys)
    assert sum(p.area for p in polys) == mask.sum() * 4.0
    doc = polygons_geojson(polys, UTM, mask.astype(np.float32), mask)
    _check_rfc7946(doc)
    lon, lat = shape(doc["features"][0]["geometry"]).centroid.coords[0]
    assert -106.5 < lon < -104.5 and 39 < lat < 40.5  # UTM 13N, 400 km E, 4400 km N


def test_geographic_scene_areas_are_square_metres(tmp_path):
    geo = GeoRef("EPSG:4326", (1e-4, 0.0, -106.0, 0.0, -1e-4, 40.0))
    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:15] = True
    area = polygon_attributes(mask_to_polygons(geo_mask := mask, geo, min_area_px=1), geo)[0]["area_m2"]
    expected = 100 * (1e-4 * 111_320 * np.cos(np.radians(40.0))) * (1e-4 * 110_950)
    assert geo_mask.sum() == 100 and abs(area - expected) / expected < 0.01


def test_unreferenced_images_get_a_pixel_gpkg_and_no_geojson(tmp_path):
    mask = np.zeros((20, 20), bool)
    mask[2:6, 3:9] = True
    out = write_polygons(tmp_path, "jpg", mask_to_polygons(mask, min_area_px=1), None)
    assert out == {"gpkg": str(tmp_path / "jpg_polygons.gpkg"), "polygons": None, "georeferenced": False}
    assert read_info(out["gpkg"])["crs"] is None and not (tmp_path / "jpg_polygons.geojson").exists()
    with pytest.raises(UserError, match="no CRS"):
        polygons_geojson(mask_to_polygons(mask, min_area_px=1))


def test_empty_mask_gives_an_empty_collection():
    doc = polygons_geojson(mask_to_polygons(np.zeros((5, 5), bool)), UTM)
    assert doc == {"type": "FeatureCollection", "features": []}


def test_simplify_in_metres_keeps_polygons_valid(tmp_path):
    from nivalis.avalanche.outputs import simplify_pixels

    assert simplify_pixels(10.0, UTM) == 5.0 and simplify_pixels(3.0, None) == 3.0 and simplify_pixels(0, UTM) == 0
    yy, xx = np.mgrid[0:60, 0:60]
    mask = (yy - 30) ** 2 + (xx - 30) ** 2 < 20**2
    exact = mask_to_polygons(mask, UTM)[0]
    simple = mask_to_polygons(mask, UTM, simplify_px=simplify_pixels(4.0, UTM))[0]
    assert simple.is_valid and len(simple.exterior.coords) < len(exact.exterior.coords) / 2
    assert abs(simple.area - exact.area) / exact.area < 0.05


@pytest.mark.parametrize("georef", [None, UTM, GeoRef("EPSG:32613", (0.3, 0.0, 412_345.67, 0.0, -0.3, 4_400_000.13)),
                                    GeoRef("EPSG:4326", (1e-5, 0.0, -105.123457, 0.0, -1e-5, 39.987654))])
def test_min_area_counts_whole_pixels_whatever_the_position(georef):
    """4×4 squares at every offset of a 5 px lattice (5,476 of them) are all 16 px: all kept at --min-area 16,
    none at 17, whatever floating-point error their map coordinates carry."""
    mask = np.zeros((370, 370), bool)
    for r in range(0, 370, 5):
        for c in range(0, 370, 5):
            mask[r:r + 4, c:c + 4] = True
    assert len(mask_to_polygons(mask, georef, min_area_px=16)) == 74 * 74
    assert mask_to_polygons(mask, georef, min_area_px=17) == []


@pytest.mark.parametrize("min_area", [1, 5, 16])
def test_object_metrics_count_the_delivered_polygons(min_area):
    """`evaluate`'s predicted objects are the polygons `predict` delivers: 4-connected, at least --min-area px."""
    from scipy import ndimage

    from nivalis.avalanche.metrics import object_counts, objects

    rng = np.random.default_rng(min_area)
    mask = ndimage.gaussian_filter(rng.random((120, 150)), 2.0) > 0.52  # blobs, corner contacts, holes
    n_polygons = len(mask_to_polygons(mask, UTM, min_area_px=min_area))
    assert n_polygons == objects(mask, min_area)[1] > 3
    assert object_counts(mask, np.zeros_like(mask), min_area_px=min_area)["false_alarms"] == n_polygons
    # 8-connected counting (the old rule) gives another number here
    assert ndimage.label(mask, np.ones((3, 3)))[1] != ndimage.label(mask)[1]


def test_windowed_polygon_stats_read_in_row_runs_equal_one_read(tmp_path):
    """A polygon's mean/max probability from runs of a few rows (bounded memory) equal those of one whole read."""
    import rasterio
    from rasterio import features
    from rasterio.transform import from_origin
    from shapely.geometry import mapping

    from nivalis.avalanche.stream import _polygon_stats

    rng = np.random.default_rng(3)
    prob = rng.random((60, 50)).astype(np.float32)
    prob[20:24, :] = np.nan  # nodata rows inside the polygon are left out
    transform = from_origin(400_000.0, 4_400_000.0, 2.0, 2.0)
    path = tmp_path / "p.tif"
    with rasterio.open(path, "w", driver="GTiff", height=60, width=50, count=1, dtype="float32", nodata=float("nan"),
                       crs="EPSG:32613", transform=transform) as ds:
        ds.write(prob, 1)
    x0, y0 = 400_000.0, 4_400_000.0
    polys = [Polygon([(x0 + 6, y0 - 4), (x0 + 90, y0 - 30), (x0 + 20, y0 - 110)]),  # a triangle over 50+ rows
             Polygon([(x0 + 60, y0 - 60), (x0 + 64, y0 - 60), (x0 + 64, y0 - 64), (x0 + 60, y0 - 64)])]
    with rasterio.open(path) as ds:
        runs, whole = _polygon_stats(ds, polys, chunk_px=7), _polygon_stats(ds, polys, chunk_px=10**9)
    for poly, (mean, peak), (mean1, peak1) in zip(polys, runs, whole):
        inside = features.rasterize([(mapping(poly), 1)], out_shape=prob.shape, transform=transform).astype(bool)
        vals = prob[inside & np.isfinite(prob)]
        assert vals.size > 0
        np.testing.assert_allclose([mean, mean1], vals.mean(dtype=np.float64), rtol=1e-6)
        assert peak == peak1 == float(vals.max())
