"""Read and write avalanche scenes in seed 002's layout: `images/`, `references/`, `masks/` with the same names.

Images are JPEG, PNG or GeoTIFF. A mask pixel is avalanche when its value is ≥ 127 (seed 002 §3.2):

.. math::
    y(i, j) = \\mathbb{1}[127 \\le V(i, j, m) \\le 255]

GeoTIFFs are read with rasterio; their georeferencing (CRS and affine transform) travels with the
scene as a :class:`GeoRef` so that every output (probability GeoTIFF, GeoJSON polygons) lands on the map
where the input was. A mask or reference may be JPEG/PNG beside a GeoTIFF image (same stem), as files
from different tools often are. Images that are not 8-bit (e.g. 16-bit satellite GeoTIFFs) are
stretched to 0..255 between their 0.5 and 99.5 percentiles, the usual display stretch, because the
window classifiers see uint8 windows.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from nivalis.data.decode import read_image_file
from nivalis.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
GEOTIFF_SUFFIXES = (".tif", ".tiff")


@dataclass(frozen=True)
class GeoRef:
    """Where a raster lies on the map: CRS (WKT or 'EPSG:n') and GDAL-order affine coefficients (a, b, c, d, e, f)."""

    crs: str | None
    transform: tuple[float, float, float, float, float, float]

    @property
    def affine(self):
        from affine import Affine

        return Affine(*self.transform)

    def bounds(self, height: int, width: int) -> tuple[float, float, float, float]:
        """(min x, min y, max x, max y) of a height × width raster in map units."""
        corners = [self.affine @ (c, r) for c, r in ((0, 0), (width, 0), (0, height), (width, height))]
        xs, ys = zip(*corners)
        return min(xs), min(ys), max(xs), max(ys)

    @property
    def pixel_area(self) -> float:
        a, b, _, d, e, _ = self.transform
        return abs(a * e - b * d)


@dataclass
class Scene:
    """One image with its avalanche mask (None when the folder has none) and georeferencing (None for JPEG/PNG)."""

    name: str
    image: np.ndarray                 # uint8 [H, W, C], C ∈ {1, 3}
    avalanche_mask: np.ndarray | None  # bool [H, W]
    georef: GeoRef | None = None
    image_path: Path | None = None

    @property
    def channels(self) -> int:
        return int(self.image.shape[2])

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])


# ---------------------------------------------------------------------------------------------- reading

def _stretch_to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    data = array.astype(np.float64)
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return np.zeros(array.shape, np.uint8)
    lo, hi = np.percentile(finite, [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1.0
    return np.clip(np.nan_to_num((data - lo) / (hi - lo) * 255.0, nan=0.0), 0, 255).round().astype(np.uint8)


def _read_geotiff(path: Path) -> tuple[np.ndarray, GeoRef | None]:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                bands = ds.read()
                crs = ds.crs.to_string() if ds.crs else None
                transform = tuple(ds.transform)[:6]
                georef = GeoRef(crs, transform) if ds.crs or not ds.transform.is_identity else None
    except (RasterioIOError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        if any(s in reason.lower() for s in ("previous exception", "tiffreadencoded", "read failed")):
            reason = "its pixel data cannot be read (a truncated or damaged TIFF)"
        raise UserError(f"cannot read image {path}: {reason}") from None
    if bands.shape[0] >= 3:
        image = np.moveaxis(bands[:3], 0, -1)
    else:
        image = bands[0][..., None]
    return _stretch_to_uint8(image), georef


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, GeoRef | None]:
    """uint8 [H, W, C] (C = 1 gray or 3 RGB) and the georeferencing of a GeoTIFF (None otherwise)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"image not found: {path}")
    if path.suffix.lower() in GEOTIFF_SUFFIXES:
        image, georef = _read_geotiff(path)
    else:
        raw = read_image_file(path)
        if raw.ndim == 2:
            image = raw[..., None]
        elif raw.shape[2] == 1:
            image = raw
        else:
            image = cv2.cvtColor(raw[..., :3], cv2.COLOR_BGR2RGB)
        image, georef = _stretch_to_uint8(image), None
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise UserError(f"image {path} is too small ({image.shape[0]}×{image.shape[1]} px)")
    # A colour image whose three bands are equal is gray: keep it 1-channel so gray models accept it.
    if image.shape[2] == 3 and np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 0], image[..., 2]):
        image = image[..., :1]
    return np.ascontiguousarray(image), georef


def read_mask(path: str | os.PathLike, threshold: int = 127) -> np.ndarray:
    """Boolean avalanche mask: value ≥ `threshold` (seed §3.2: 127) in the first band → avalanche."""
    image, _ = read_image(path)
    if image.shape[2] == 3:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    else:
        gray = image[..., 0]
    return gray >= threshold


def to_channels(image: np.ndarray, channels: int, where: str = "image") -> np.ndarray:
    """Give `image` the `channels` a model was trained on: RGB → gray is a luminance conversion;
    gray → RGB would invent colour, so it is a user error."""
    have = image.shape[2]
    if have == channels:
        return image
    if have == 3 and channels == 1:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)[..., None]
    raise UserError(f"{where} has {have} channel(s) but the model was trained on {channels} (RGB); "
                    "give it an RGB image or train a 1-channel model (--channels 1)")


def _index(folder: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    if folder.is_dir():
        for p in sorted(folder.iterdir()):
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."):
                files.setdefault(p.stem, p)
    return files


def scene_files(root: str | os.PathLike) -> list[tuple[str, Path, Path | None, Path | None]]:
    """(name, image, mask, reference) paths of a scene folder; mask/reference None where absent."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"data folder not found: {root}")
    images = _index(root / "images")
    if not images:
        raise UserError(f"{root} has no images/ folder with JPEG, PNG or GeoTIFF files (seed 002 layout: "
                        "images/, references/, masks/)")
    masks, refs = _index(root / "masks"), _index(root / "references")
    return [(name, path, masks.get(name), refs.get(name)) for name, path in images.items()]


def load_scene(image_path: Path, mask_path: Path | None = None, *, name: str | None = None,
               threshold: int = 127) -> Scene:
    """Read one image (and its mask, checked to have the same size)."""
    image, georef = read_image(image_path)
    mask = None
    if mask_path is not None:
        mask = read_mask(mask_path, threshold)
        if mask.shape != image.shape[:2]:
            raise UserError(f"mask {mask_path} is {mask.shape[0]}×{mask.shape[1]} px but image {image_path} "
                            f"is {image.shape[0]}×{image.shape[1]} px")
    return Scene(name or Path(image_path).stem, image, mask, georef, Path(image_path))


def load_scenes(root: str | os.PathLike, *, require_masks: bool = True, threshold: int = 127) -> list[Scene]:
    """Every scene of a seed-layout folder, sorted by name. An image with no avalanche (all-zero mask) is valid."""
    scenes = []
    for name, image_path, mask_path, _ in scene_files(root):
        if mask_path is None and require_masks:
            raise UserError(f"no mask for image {image_path.name} in {Path(root) / 'masks'}")
        scenes.append(load_scene(image_path, mask_path, name=name, threshold=threshold))
    return scenes


# ---------------------------------------------------------------------------------------------- writing

@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temp path beside `path` (same suffix, so writers pick the format) that replaces `path` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_geotiff(path: str | os.PathLike, array: np.ndarray, georef: GeoRef | None = None, *,
                  nodata: float | None = None) -> Path:
    """Write [H, W] or [H, W, C] as a (tiled, deflate-compressed) GeoTIFF carrying `georef`'s CRS and transform."""
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
    return path


def write_image(path: str | os.PathLike, array: np.ndarray, georef: GeoRef | None = None, quality: int = 95) -> Path:
    """Write uint8 [H, W] / [H, W, 1] / [H, W, 3] (RGB) as JPEG, PNG or GeoTIFF by suffix."""
    path = Path(path)
    if path.suffix.lower() in GEOTIFF_SUFFIXES:
        return write_geotiff(path, array, georef)
    data = array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array
    if data.ndim == 3:
        data = cv2.cvtColor(np.ascontiguousarray(data), cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), data, params):
            raise UserError(f"cannot write {path}")
    return path


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2))
    return path
