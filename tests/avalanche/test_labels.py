"""Labels from vectors: polygons rasterised onto each image's grid, reprojected; masks on another grid refused."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import box

from nivalis.avalanche.config import AvalancheConfig
from nivalis.avalanche.io import GeoRef, load_scene, load_scenes, rasterize_labels, write_geotiff
from nivalis.avalanche.simulate import simulate_dataset
from nivalis.avalanche.train import train_window_classifier
from nivalis.avalanche.vectorize import mask_to_polygons, write_gpkg
from nivalis.errors import UserError

UTM = GeoRef("EPSG:32613", (2.0, 0.0, 400_000.0, 0.0, -2.0, 4_400_000.0))


def _write_labels(path, polygons, crs):
    import shapely
    from pyogrio.raw import write

    write(str(path), np.array([shapely.to_wkb(p) for p in polygons], dtype=object), [], [], driver="GPKG",
          geometry_type="Polygon", crs=crs)


def test_polygons_are_rasterised_and_reprojected_onto_the_image_grid(tmp_path):
    square = box(400_020.0, 4_399_960.0, 400_040.0, 4_399_980.0)  # 10 × 10 px of a 2 m grid
    _write_labels(tmp_path / "utm.gpkg", [square], "EPSG:32613")
    mask = rasterize_labels(tmp_path / "utm.gpkg", UTM, (64, 64))
    assert mask.sum() == 100 and mask[10:20, 10:20].all()
    from rasterio.warp import transform_geom
    from shapely.geometry import mapping, shape

    wgs = shape(transform_geom("EPSG:32613", "EPSG:4326", mapping(square.segmentize(1.0))))
    _write_labels(tmp_path / "wgs.gpkg", [wgs], "EPSG:4326")
    reprojected = rasterize_labels(tmp_path / "wgs.gpkg", UTM, (64, 64))
    assert (reprojected != mask).sum() <= 4  # the same pixels, up to the reprojection's rounding at corners
    with pytest.raises(UserError, match="not georeferenced"):
        rasterize_labels(tmp_path / "utm.gpkg", None, (64, 64))


def test_a_mask_on_another_grid_is_refused(tmp_path):
    image = np.full((32, 32, 3), 100, np.uint8)
    write_geotiff(tmp_path / "im.tif", image, UTM)
    shifted = GeoRef("EPSG:32613", (2.0, 0.0, 400_010.0, 0.0, -2.0, 4_400_000.0))
    write_geotiff(tmp_path / "mk.tif", np.zeros((32, 32), np.uint8), shifted)
    with pytest.raises(UserError, match="another grid"):
        load_scene(tmp_path / "im.tif", tmp_path / "mk.tif")
    write_geotiff(tmp_path / "ok.tif", np.zeros((32, 32), np.uint8), UTM)
    assert not load_scene(tmp_path / "im.tif", tmp_path / "ok.tif").avalanche_mask.any()


def test_training_from_a_geopackage_equals_training_from_the_mask(tmp_path):
    data = tmp_path / "data"
    simulate_dataset(data, scenes=3, seed=2, size=(64, 64), image_format="geotiff16")
    scenes = load_scenes(data)
    polygons = [p for s in scenes for p in mask_to_polygons(s.avalanche_mask, s.georef, min_area_px=1)]
    write_gpkg(tmp_path / "inventory.gpkg", polygons, scenes[0].georef)
    from_vectors = load_scenes(data, labels=tmp_path / "inventory.gpkg")
    for a, b in zip(scenes, from_vectors):
        np.testing.assert_array_equal(a.avalanche_mask, b.avalanche_mask)
    cfg = AvalancheConfig(epochs=1, windows_per_epoch=64, val_windows=64, batch_size=32)
    r1 = train_window_classifier(data, "cnn", window=9, config=cfg, calibrate=False).result
    r2 = train_window_classifier(data, "cnn", window=9, config=cfg, calibrate=False,
                                 labels=tmp_path / "inventory.gpkg").result
    assert (r1["loss"], r1["accuracy"]) == (r2["loss"], r2["accuracy"])
