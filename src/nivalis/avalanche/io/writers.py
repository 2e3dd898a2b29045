"""Raster and JSON outputs: GeoTIFF carrying the input's CRS, transform and nodata, Cloud-Optimized GeoTIFF, images.

Every writer writes atomically (a temporary file renamed into place), so an interrupted run leaves no half
file. The avalanche polygons' GeoPackage and RFC 7946 GeoJSON are written by `vectorize.write_polygons`,
which computes their attributes once for both.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from nivalis.avalanche.io.raster import GEOTIFF_SUFFIXES, GeoRef
from nivalis.errors import UserError
from nivalis.files import atomic_path, atomic_write_text


def to_cog(src: str | os.PathLike, path: str | os.PathLike, *, resampling: str = "average") -> Path:
    """Copy a GeoTIFF to a Cloud-Optimized GeoTIFF (512 px tiles, deflate, floating-point predictor for floats,
    overviews by `resampling`), atomically; tags, nodata and band descriptions carry over."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.shutil import copy

    path = Path(path)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a JPEG/PNG's maps have pixel coordinates
        with rasterio.open(src) as ds:
            floating = np.dtype(ds.dtypes[0]).kind == "f"
        copy(str(src), str(tmp), driver="COG", COMPRESS="DEFLATE", PREDICTOR="FLOATING_POINT" if floating else "NO",
             BLOCKSIZE=512, OVERVIEWS="AUTO", RESAMPLING=resampling.upper(), NUM_THREADS=1)
    return path


def write_geotiff(path: str | os.PathLike, array: np.ndarray, georef: GeoRef | None = None, *,
                  nodata: float | None = None, descriptions: list[str] | None = None,
                  tags: dict[str, Any] | None = None, cog: str | None = None) -> Path:
    """Write [H, W] or [H, W, C] as a (tiled, deflate-compressed) GeoTIFF carrying `georef`'s CRS and transform;
    `cog`: write a Cloud-Optimized GeoTIFF instead, with overviews resampled by this method (average, nearest)."""
    if cog:
        path = Path(path)
        plain = path.with_name(f".{path.stem}.{os.getpid()}.plain.tif")
        try:
            write_geotiff(plain, array, georef, nodata=nodata, descriptions=descriptions, tags=tags)
            return to_cog(plain, path, resampling=cog)
        finally:
            plain.unlink(missing_ok=True)
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    path = Path(path)
    bands = array[None] if array.ndim == 2 else np.moveaxis(array, -1, 0)
    profile: dict[str, Any] = {"driver": "GTiff", "height": bands.shape[1], "width": bands.shape[2],
                               "count": bands.shape[0], "dtype": bands.dtype.name, "compress": "deflate"}
    if bands.shape[1] >= 256 and bands.shape[2] >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    if georef is not None:
        from rasterio.crs import CRS

        profile["transform"] = georef.affine
        if georef.crs:
            profile["crs"] = CRS.from_user_input(georef.crs)
    if nodata is not None:
        profile["nodata"] = nodata
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(tmp, "w", **profile) as ds:
            ds.write(bands)
            for k, d in enumerate(descriptions or []):
                ds.set_band_description(k + 1, d)
            if tags:
                ds.update_tags(**{k: str(v) for k, v in tags.items()})
    return path


def write_image(path: str | os.PathLike, array: np.ndarray, georef: GeoRef | None = None, quality: int = 95) -> Path:
    """Write uint8 [H, W] / [H, W, 1] / [H, W, 3] (RGB) as JPEG, PNG or GeoTIFF by suffix."""
    path = Path(path)
    if path.suffix.lower() in GEOTIFF_SUFFIXES:
        return write_geotiff(path, array, georef)
    import cv2

    data = array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array
    if data.ndim == 3:
        data = cv2.cvtColor(np.ascontiguousarray(data), cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), data, params):
            raise UserError(f"cannot write {path}")
    return path


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    return atomic_write_text(path, json.dumps(payload, indent=2))
