"""Masks → polygons → GeoJSON: exact pixel outlines, holes, map coordinates of georeferenced scenes."""

from __future__ import annotations

import json

import numpy as np
from shapely.geometry import Polygon, shape

from nivalis.avalanche.io import GeoRef
from nivalis.avalanche.simulate import rasterize
from nivalis.avalanche.vectorize import mask_to_polygons, polygons_geojson, write_geojson

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
    path = write_geojson(tmp_path / "p.geojson", [poly], UTM, prob, mask)
    doc = json.loads(path.read_text())
    assert doc["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::32613"
    props = doc["features"][0]["properties"]
    assert props["area_px"] == 32 and props["area_m2"] == 128 and props["mean_probability"] == 0.8
    assert shape(doc["features"][0]["geometry"]).equals(poly)


def test_empty_mask_gives_an_empty_collection():
    doc = polygons_geojson(mask_to_polygons(np.zeros((5, 5), bool)))
    assert doc == {"type": "FeatureCollection", "features": []}
