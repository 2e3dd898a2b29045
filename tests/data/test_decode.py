"""Strict decoding: a truncated JPEG, PNG or TIFF is one clear error naming the file."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from nivalis.data.decode import check_complete, decode_image, read_image_file
from nivalis.errors import UserError


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_whole_file_decodes_and_a_cut_one_is_refused(tmp_path, ext):
    image = np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(ext, image)
    data = encoded.tobytes()
    decoded = decode_image(data, "x" + ext)
    assert decoded.shape == (48, 40, 3)
    if ext == ".png":
        assert np.array_equal(decoded, image)              # lossless
    cut = tmp_path / ("cut" + ext)
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(UserError, match="truncated") as info:
        read_image_file(cut)
    assert str(cut) in str(info.value) and "\n" not in str(info.value)


def test_other_formats_pass_the_check_and_garbage_is_refused():
    check_complete(b"BM" + bytes(100), "a.bmp")             # not JPEG/PNG: left to the decoder
    with pytest.raises(UserError, match="cannot read image notes.txt"):
        decode_image(b"not an image at all", "notes.txt")


def test_avalanche_reader_refuses_a_truncated_geotiff(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    from nivalis.avalanche.io import read_image

    path = tmp_path / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=256, height=256, count=3, dtype="uint8",
                       crs="EPSG:32613", transform=from_origin(0, 0, 2, 2)) as ds:
        ds.write(np.random.default_rng(1).integers(0, 256, (3, 256, 256), dtype=np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated or damaged TIFF"):
        read_image(path)
