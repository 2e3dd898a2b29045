"""Reading and writing seed-layout scene folders: formats, the 127 mask threshold, georeferencing, errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from nivalis.avalanche.io import (
    GeoRef,
    load_scene,
    load_scenes,
    read_image,
    read_mask,
    scene_files,
    to_channels,
    write_geotiff,
    write_image,
)
from nivalis.errors import UserError

UTM = GeoRef("EPSG:32613", (2.0, 0.0, 400_000.0, 0.0, -2.0, 4_400_000.0))


def test_mask_threshold_is_127(tmp_path):
    values = np.array([[0, 126, 127, 128, 255]], np.uint8).repeat(3, 0)
    write_image(tmp_path / "m.png", values)
    assert read_mask(tmp_path / "m.png").tolist()[0] == [False, False, True, True, True]


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_rgb_round_trip_lossless_formats(tmp_path, suffix):
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    write_image(tmp_path / f"x{suffix}", image)
    back, georef = read_image(tmp_path / f"x{suffix}")
    np.testing.assert_array_equal(back, image)  # PNG is BGR on disk: channel order must survive
    assert georef is None


def test_jpeg_and_gray(tmp_path):
    image = np.full((16, 16, 3), (200, 120, 40), np.uint8)
    write_image(tmp_path / "c.jpg", image)
    back, _ = read_image(tmp_path / "c.jpg")
    assert back.shape == (16, 16, 3) and np.abs(back.astype(int) - image).max() < 6
    write_image(tmp_path / "g.png", image[..., :1])
    gray, _ = read_image(tmp_path / "g.png")
    assert gray.shape == (16, 16, 1)


def test_geotiff_georeferencing_is_read(tmp_path):
    write_geotiff(tmp_path / "s.tif", np.zeros((10, 12, 3), np.uint8) + np.array([7, 8, 9], np.uint8), UTM)
    image, georef = read_image(tmp_path / "s.tif")
    assert image.shape == (10, 12, 3)
    assert georef.crs == "EPSG:32613" and georef.transform == UTM.transform
    assert georef.bounds(10, 12) == (400_000.0, 4_400_000.0 - 20.0, 400_024.0, 4_400_000.0)


def test_sixteen_bit_geotiff_keeps_its_values(tmp_path):
    # radiometry is data: no per-file stretch (the same pixel reads the same in a crop and the full scene)
    data = np.linspace(0, 4000, 400).reshape(20, 20).astype(np.uint16)
    write_geotiff(tmp_path / "u16.tif", data, UTM)
    image, _ = read_image(tmp_path / "u16.tif")
    assert image.dtype == np.uint16 and image.shape == (20, 20, 1)
    assert np.array_equal(image[..., 0], data)


def test_layout_pairs_by_name_and_accepts_empty_masks(tmp_path):
    for name in ("a", "b"):
        write_image(tmp_path / "images" / f"{name}.jpg", np.zeros((8, 9, 3), np.uint8) + 100)
        write_image(tmp_path / "masks" / f"{name}.png", np.zeros((8, 9), np.uint8))
    files = scene_files(tmp_path)
    assert [f[0] for f in files] == ["a", "b"] and files[0][3] is None
    scenes = load_scenes(tmp_path)
    assert all(s.avalanche_mask.shape == (8, 9) and not s.avalanche_mask.any() for s in scenes)


def test_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_scenes(tmp_path / "missing")
    (tmp_path / "images").mkdir()
    with pytest.raises(UserError, match="no images"):
        load_scenes(tmp_path)
    (tmp_path / "images" / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(UserError, match="cannot read image"):
        read_image(tmp_path / "images" / "bad.jpg")
    write_image(tmp_path / "im.png", np.zeros((8, 9, 3), np.uint8))
    write_image(tmp_path / "mk.png", np.zeros((8, 10), np.uint8))
    with pytest.raises(UserError, match="mask .* is 8×10 px but image .* is 8×9 px"):
        load_scene(tmp_path / "im.png", tmp_path / "mk.png")


def test_three_equal_bands_are_gray(tmp_path):
    write_image(tmp_path / "g3.png", np.zeros((6, 6, 3), np.uint8) + 90)
    assert read_image(tmp_path / "g3.png")[0].shape == (6, 6, 1)


def test_to_channels():
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 1] = 200
    gray = to_channels(rgb, 1)
    assert gray.shape == (4, 4, 1) and gray[0, 0, 0] == cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[0, 0]
    with pytest.raises(UserError, match="trained on 3"):
        to_channels(gray, 3)
