"""The simulator writes the seed's layout; masks are its polygons; sunny scenes are brighter; GeoTIFFs are in UTM."""

from __future__ import annotations

import json

import numpy as np

from nivalis.avalanche.io import load_scenes, scene_files
from nivalis.avalanche.simulate import fractal_surface, hillshade, rasterize, simulate_scene


def test_layout_names_formats_and_georeferencing(scene_dir):
    files = scene_files(scene_dir)
    assert len(files) == 6
    assert all(mask is not None and ref is not None for _, _, mask, ref in files)
    tifs = [img for _, img, _, _ in files if img.suffix == ".tif"]
    assert tifs and all(img.suffix in (".jpg", ".tif") for _, img, _, _ in files)
    scenes = load_scenes(scene_dir)
    geo = [s for s in scenes if s.georef is not None]
    assert len(geo) == len(tifs) and all(s.georef.crs == "EPSG:32613" for s in geo)
    assert all(s.shape == (96, 96) and s.channels == 3 for s in scenes)
    records = json.loads((scene_dir / "scenes.json").read_text())["scenes"]
    assert [r["name"] for r in records] == [s.name for s in scenes]
    for r, s in zip(records, scenes):
        assert (r["avalanches"] > 0) == bool(s.avalanche_mask.any())


def test_mask_is_the_rasterised_outline_and_scenes_repeat():
    a = simulate_scene(np.random.default_rng(11), (128, 128), avalanches=2)
    b = simulate_scene(np.random.default_rng(11), (128, 128), avalanches=2)
    np.testing.assert_array_equal(a.image, b.image)
    assert len(a.polygons) >= 1
    np.testing.assert_array_equal(a.avalanche_mask, rasterize(a.polygons, (128, 128)))
    assert abs(a.avalanche_mask.sum() - sum(p.area for p in a.polygons)) < 0.1 * a.avalanche_mask.sum()
    # the reference shows the outline in red where the image is not red
    diff = np.any(a.reference != a.image, axis=2)
    assert diff.any() and a.reference[diff][:, 0].mean() > 200


def test_no_avalanche_scene_and_illumination():
    sunny = simulate_scene(np.random.default_rng(2), (96, 96), avalanches=0, illumination="sunny")
    shady = simulate_scene(np.random.default_rng(2), (96, 96), avalanches=0, illumination="shady")
    assert not sunny.avalanche_mask.any() and not sunny.polygons
    assert sunny.image.mean() > 170 > shady.image.mean()
    # shade is lit by the blue sky: blue exceeds red by more in shady scenes (seed §4.3)
    sep = lambda im: im[..., 2].astype(float).mean() - im[..., 0].astype(float).mean()  # noqa: E731
    assert sep(shady.image) > sep(sunny.image)


def test_fractal_and_hillshade():
    z = fractal_surface(np.random.default_rng(0), (64, 64), 3.6)
    assert abs(z.mean()) < 1e-9 and abs(z.std() - 1) < 1e-9
    plane = np.tile(np.arange(32.0), (32, 1))  # rises to the east: faces west
    west, _ = hillshade(-plane, 90.0, 45.0)   # falls to the east: faces the eastern sun
    east, _ = hillshade(plane, 90.0, 45.0)
    assert west.mean() > east.mean()
