"""Avalanche labels on an image's grid: mask rasters (value ≥ 127 → avalanche, seed 002 §3.2) or polygons rasterised.

.. math::
    y(i, j) = \\mathbb{1}[127 \\le V(i, j, m) \\le 255]

A mask raster must lie on the image's grid (same size and, for GeoTIFFs, the same CRS and transform); polygons
(GeoJSON, GeoPackage, Shapefile) are reprojected from their CRS to the image's and rasterised onto its grid
(pixel centres inside). A mask may be JPEG/PNG beside a GeoTIFF image (same stem), as files from different
tools often are.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nivalis.avalanche.io.raster import RASTERIO_SUFFIXES, BandSelection, GeoRef, read_raster
from nivalis.errors import UserError

VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp")
_FIRST_BAND = BandSelection((1,))


def read_mask(path: str | os.PathLike, threshold: int = 127) -> np.ndarray:
    """Boolean avalanche mask: value ≥ `threshold` (seed §3.2: 127) in the first band → avalanche."""
    return _mask_raster(Path(path), threshold)[0]


def _mask_raster(path: Path, threshold: int) -> tuple[np.ndarray, GeoRef | None]:
    """The mask of a raster file and its georeferencing, from one read."""
    if path.suffix.lower() in RASTERIO_SUFFIXES:
        raster = read_raster(path, _FIRST_BAND)
        return raster.image[..., 0] >= threshold, raster.georef
    image = read_raster(path).image
    if image.shape[2] == 3:
        import cv2

        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) >= threshold, None
    return image[..., 0] >= threshold, None


def read_label_polygons(path: str | os.PathLike) -> tuple[list, str | None]:
    """Polygons (shapely, every layer-0 feature with an area) of a GeoJSON/GeoPackage/Shapefile and its CRS (WKT)."""
    import shapely
    from pyogrio.errors import DataSourceError
    from pyogrio.raw import read

    path = Path(path)
    if not path.exists():
        raise UserError(f"labels not found: {path}")
    try:
        meta, _, geometry, _ = read(str(path), read_geometry=True, columns=[])
    except (DataSourceError, OSError, ValueError) as exc:
        raise UserError(f"cannot read labels {path}: {str(exc).splitlines()[0][:160]}") from None
    geoms = [g for g in shapely.from_wkb(geometry) if g is not None and not g.is_empty and g.area > 0] \
        if geometry is not None else []
    return geoms, meta.get("crs")


def rasterize_labels(path: str | os.PathLike, georef: GeoRef | None, shape: tuple[int, int], *,
                     image: Path | None = None) -> np.ndarray:
    """Avalanche mask [H, W] of an image's grid from polygons (pixel centres inside), reprojected from the
    labels' CRS to the image's; without georeferencing both must be in pixel coordinates (no CRS)."""
    from affine import Affine
    from rasterio import features
    from rasterio.crs import CRS
    from rasterio.warp import transform_geom
    from shapely.geometry import mapping

    geoms, crs = read_label_polygons(path)
    image_crs = CRS.from_user_input(georef.crs) if georef is not None and georef.crs else None
    where = f"image {image}" if image else "the image"
    if (crs is None) != (image_crs is None):
        raise UserError(f"labels {path} are {'in ' + crs if crs else 'without a CRS'} but {where} is "
                        f"{'in ' + image_crs.to_string() if image_crs else 'not georeferenced'}: "
                        "both need a CRS, or both pixel coordinates")
    shapes = [mapping(g) for g in geoms]
    if crs is not None and CRS.from_user_input(crs) != image_crs:
        shapes = [transform_geom(CRS.from_user_input(crs), image_crs, g) for g in shapes]
    if not shapes:
        return np.zeros(shape, bool)
    transform = georef.affine if georef is not None else Affine.identity()
    return features.rasterize([(g, 1) for g in shapes], out_shape=shape, transform=transform, fill=0,
                              dtype=np.uint8).astype(bool)


def same_grid(a: GeoRef, b: GeoRef) -> bool:
    """Whether two rasters share CRS and transform (to a billionth of the largest coefficient)."""
    from rasterio.crs import CRS

    same_crs = (a.crs is None and b.crs is None) or (a.crs is not None and b.crs is not None
                                                     and CRS.from_user_input(a.crs) == CRS.from_user_input(b.crs))
    return same_crs and np.allclose(a.transform, b.transform, rtol=0, atol=1e-9 * max(1.0, *map(abs, a.transform)))


def read_scene_mask(mask_path: Path, image_path: Path, georef: GeoRef | None, shape: tuple[int, int],
                    threshold: int = 127) -> np.ndarray:
    """An image's avalanche mask from a mask raster (same grid) or polygons (rasterised onto the image's grid)."""
    if mask_path.suffix.lower() in VECTOR_SUFFIXES:
        return rasterize_labels(mask_path, georef, shape, image=image_path)
    mask, mask_georef = _mask_raster(mask_path, threshold)
    if mask.shape != shape:
        raise UserError(f"mask {mask_path} is {mask.shape[0]}×{mask.shape[1]} px but image {image_path} "
                        f"is {shape[0]}×{shape[1]} px")
    if georef is not None and mask_georef is not None and not same_grid(mask_georef, georef):
        raise UserError(f"mask {mask_path} is on another grid than image {image_path} (CRS or transform "
                        "differ): resample it onto the image's grid, or give the labels as polygons")
    return mask
