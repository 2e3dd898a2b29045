"""Read and write avalanche scenes in seed 002's layout: `images/`, `references/`, `masks/` with the same names.

Images are JPEG, PNG or GeoTIFF. A mask pixel is avalanche when its value is ≥ 127 (seed 002 §3.2):

.. math::
    y(i, j) = \\mathbb{1}[127 \\le V(i, j, m) \\le 255]

GeoTIFFs are read with rasterio; their georeferencing (CRS and affine transform) travels with the
scene as a :class:`GeoRef` so that every output (probability GeoTIFF, GeoJSON polygons) lands on the map
where the input was. A mask or reference may be JPEG/PNG beside a GeoTIFF image (same stem), as files
from different tools often are.

Why one module of this size (over 350 lines): bands, nodata, georeferencing, vector labels and the writers
share one `GeoRef`/`Raster` contract (a mask is checked against the image's grid where both are read, an
output carries the input's nodata and CRS); split, each part would re-derive that contract.

Radiometry is data, never stretched per file: pixels keep their dtype (uint8, uint16, int16, float32
reflectance) and the model standardises band :math:`k` with statistics computed once over the valid
pixels of its training scenes and stored in its checkpoint,

.. math::
    x'_k = (s\\,x_k - \\mu_k) / \\sigma_k,\\qquad s = 1/255 \text{ for uint8, else } 1,

so a pixel gets the same input whether it is read from a crop or the full scene. Which bands are read
is `bands`: 1-based indices or names matched against the band descriptions (or colour
interpretation): e.g. ``red,green,blue,nir``. By default an image with 1–3 bands is read as gray / RGB,
and one with more bands (or described bands) must name red, green and blue in its descriptions: a
B,G,R,NIR file is never taken as RGB by position.

Nodata (the declared nodata value, NaN, an alpha band or an internal mask, through rasterio's
`read_masks`; a PNG's alpha channel) becomes the scene's `valid` mask (None: every pixel valid).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from nivalis.data.decode import read_image_file
from nivalis.errors import UserError
from nivalis.files import atomic_path, atomic_write_text

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".vrt")
VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp")
GEOTIFF_SUFFIXES = (".tif", ".tiff")
RASTERIO_SUFFIXES = GEOTIFF_SUFFIXES + (".vrt",)  # read through GDAL (a VRT mosaics tiles into one scene)


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
    image: np.ndarray                 # [H, W, C], the file's dtype (uint8, uint16, int16, float32), C bands
    avalanche_mask: np.ndarray | None  # bool [H, W]
    georef: GeoRef | None = None
    image_path: Path | None = None
    valid: np.ndarray | None = None   # bool [H, W]: False on nodata; None when every pixel is valid
    band_names: tuple[str, ...] = ()  # lower-case description / colour of each band read ('' when unknown)

    @property
    def valid_mask(self) -> np.ndarray:
        return np.ones(self.shape, bool) if self.valid is None else self.valid

    @property
    def channels(self) -> int:
        return int(self.image.shape[2])

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])


# ---------------------------------------------------------------------------------------------- reading

def display_uint8(array: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """A uint8 picture of any-dtype bands for overlays and figures only (0.5–99.5 percentile stretch over valid
    pixels); the models never see it."""
    if array.dtype == np.uint8:
        return array
    data = array.astype(np.float32)
    ok = np.isfinite(data)
    if valid is not None:
        ok &= valid[..., None] if data.ndim == 3 else valid
    finite = data[ok]
    if finite.size == 0:
        return np.zeros(array.shape, np.uint8)
    lo, hi = np.percentile(finite, [0.5, 99.5])
    hi = hi if hi > lo else lo + 1.0
    return np.clip(np.nan_to_num((data - lo) / (hi - lo) * 255.0, nan=0.0), 0, 255).round().astype(np.uint8)


def parse_bands(spec: str | list | tuple | None) -> list[int | str] | None:
    """`--bands` text (``1,2,3`` or ``red,green,blue,nir``) → 1-based indices / lower-case names; None stays None."""
    if spec is None:
        return None
    items = [str(t).strip() for t in (spec.split(",") if isinstance(spec, str) else spec)]
    if not items or any(not t for t in items):
        raise UserError(f"--bands must be comma-separated band indices (1,2,3) or names (red,green,blue), got {spec!r}")
    return [int(t) if t.isdigit() else t.lower() for t in items]


_COLOURS = ("red", "green", "blue")


def resolve_bands(spec: list[int | str] | None, names: list[str], path: Path, alpha: tuple[int, ...] = ()) -> list[int]:
    """0-based indices of the bands to read from a file whose bands are named `names` ('' when undescribed)."""
    count = len(names)
    shown = ",".join(n or "?" for n in names)
    if spec is None:
        data = [i for i in range(count) if i not in alpha]
        if all(c in names for c in _COLOURS):
            return [names.index(c) for c in _COLOURS]
        described = [names[i] for i in data if names[i]]
        if len(data) <= 2:
            return data[:1]
        if len(data) == 3 and (not described or described == list(_COLOURS)):
            return data
        raise UserError(f"image {path} has {len(data)} bands ({shown}) that are not described as red, green, blue: "
                        "say which to use with --bands (e.g. --bands red,green,blue,nir or --bands 3,2,1)")
    out = []
    for item in spec:
        if isinstance(item, int):
            if not 1 <= item <= count:
                raise UserError(f"--bands {item}: image {path} has bands 1..{count}")
            out.append(item - 1)
        elif item in names:
            out.append(names.index(item))
        else:
            raise UserError(f"--bands {item}: image {path} has no band described as {item!r} (bands: {shown})")
    return out


@dataclass
class Raster:
    """The bands read from one image file: pixels in the file's dtype, valid-pixel mask, band names, georeferencing."""

    image: np.ndarray
    georef: GeoRef | None
    valid: np.ndarray | None
    band_names: tuple[str, ...]


def dataset_bands(ds, path: Path, bands: list[int | str] | None = None) -> tuple[list[int], list[str]]:
    """0-based indices of the bands to read from an open rasterio dataset, and every band's name."""
    from rasterio.enums import ColorInterp

    interp = list(ds.colorinterp)
    colours = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
    names = [(d or "").strip().lower() or (c.name if c in colours else "") for d, c in zip(ds.descriptions, interp)]
    alpha = tuple(i for i, c in enumerate(interp) if c == ColorInterp.alpha)
    return resolve_bands(bands, names, path, alpha), names


def read_window(ds, index: list[int], window=None) -> tuple[np.ndarray, np.ndarray]:
    """Bands `index` (0-based) of a window of an open dataset, [C, h, w], and its valid pixels [h, w]: every
    band's mask (nodata value, alpha, internal mask) and, for floats, finite."""
    data = ds.read([i + 1 for i in index], window=window)
    valid = np.ones(data.shape[1:], bool)
    for i in index:
        valid &= ds.read_masks(i + 1, window=window) > 0
    if data.dtype.kind == "f":
        valid &= np.isfinite(data).all(0)
    return data, valid


def dataset_georef(ds) -> GeoRef | None:
    crs = ds.crs.to_string() if ds.crs else None
    return GeoRef(crs, tuple(ds.transform)[:6]) if ds.crs or not ds.transform.is_identity else None


def _read_geotiff(path: Path, bands: list[int | str] | None = None) -> Raster:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                index, names = dataset_bands(ds, path, bands)
                data, valid = read_window(ds, index)
                georef = dataset_georef(ds)
    except (RasterioIOError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        if any(s in reason.lower() for s in ("previous exception", "tiffreadencoded", "read failed")):
            reason = "its pixel data cannot be read (a truncated or damaged TIFF)"
        raise UserError(f"cannot read image {path}: {reason}") from None
    if data.dtype.kind not in "uif" or data.dtype.itemsize > 4 and data.dtype.kind != "f":
        raise UserError(f"image {path} has {data.dtype} pixels: uint8, uint16, int16, uint32/int32 or float are read")
    image = np.moveaxis(data, 0, -1)
    return Raster(image, georef, None if valid.all() else valid, tuple(names[i] for i in index))


def read_raster(path: str | os.PathLike, bands: str | list | None = None) -> Raster:
    """The selected bands of an image in their own dtype ([H, W, C]), its valid pixels and its georeferencing."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"image not found: {path}")
    spec = parse_bands(bands) if isinstance(bands, str) else bands
    if path.suffix.lower() in RASTERIO_SUFFIXES:
        raster = _read_geotiff(path, spec)
    else:
        raw = read_image_file(path, flags=cv2.IMREAD_UNCHANGED)
        valid = None
        if raw.ndim == 3 and raw.shape[2] in (2, 4):  # gray + alpha or BGRA
            valid = raw[..., -1] > 0
            raw = raw[..., :-1]
            valid = None if valid.all() else valid
        if raw.ndim == 2 or raw.shape[2] == 1:
            image, names = raw.reshape(*raw.shape[:2], 1), ["gray"]
        else:
            image, names = cv2.cvtColor(raw[..., :3], cv2.COLOR_BGR2RGB), list(_COLOURS)
        # A colour image whose three bands are equal is gray: keep it 1-channel so gray models accept it.
        if image.shape[2] == 3 and np.array_equal(image[..., 0], image[..., 1]) \
                and np.array_equal(image[..., 0], image[..., 2]):
            image, names = image[..., :1], ["gray"]
        index = resolve_bands(spec, names, path) if spec is not None else list(range(image.shape[2]))
        raster = Raster(image[..., index], None, valid, tuple(names[i] for i in index))
    image = raster.image
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise UserError(f"image {path} is too small ({image.shape[0]}×{image.shape[1]} px)")
    raster.image = np.ascontiguousarray(image)
    return raster


def read_image(path: str | os.PathLike, bands: str | list | None = None) -> tuple[np.ndarray, GeoRef | None]:
    """[H, W, C] in the file's dtype (C = 1 gray, 3 RGB, or the `bands` asked for) and the georeferencing of a
    GeoTIFF (None otherwise)."""
    raster = read_raster(path, bands)
    return raster.image, raster.georef


def read_mask(path: str | os.PathLike, threshold: int = 127) -> np.ndarray:
    """Boolean avalanche mask: value ≥ `threshold` (seed §3.2: 127) in the first band → avalanche."""
    path = Path(path)
    if path.suffix.lower() in RASTERIO_SUFFIXES:
        return read_raster(path, [1]).image[..., 0] >= threshold
    image = read_raster(path).image
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.shape[2] == 3 else image[..., 0]
    return gray >= threshold


def to_channels(image: np.ndarray, channels: int, where: str = "image") -> np.ndarray:
    """Give `image` the `channels` a model was trained on: RGB → gray is a luminance conversion;
    gray → RGB would invent colour, so it is a user error."""
    have = image.shape[2]
    if have == channels:
        return image
    if have == 3 and channels == 1:
        if image.dtype == np.uint8:
            return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)[..., None]
        gray = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return (np.round(gray) if image.dtype.kind in "iu" else gray).astype(image.dtype)[..., None]
    raise UserError(f"{where} has {have} channel(s) but the model was trained on {channels}; "
                    "give it the bands the model was trained on (--bands) or train a 1-channel model (--channels 1)")


def fill_nodata(image: np.ndarray, valid: np.ndarray | None, mean: list[float], scale: float = 1.0) -> np.ndarray:
    """`image` with its nodata pixels set to the model's band means (its standardised input 0 there), so
    windows reaching into nodata see a neutral value, the same in a crop and in the full scene."""
    if valid is None or valid.all():
        return image
    out = image.copy()
    fill = np.asarray(mean, np.float64)[: image.shape[2]] / scale
    if image.dtype.kind in "iu":
        info = np.iinfo(image.dtype)
        fill = np.clip(np.round(fill), info.min, info.max)
    out[~valid] = fill.astype(image.dtype)
    return out


def fill_scene(scene: Scene, mean: list[float], scale: float) -> Scene:
    """The scene with nodata pixels set to the model's band means (see `fill_nodata`)."""
    if scene.valid is None:
        return scene
    return replace(scene, image=fill_nodata(scene.image, scene.valid, _band_means(scene, mean), scale))


def _band_means(scene: Scene, mean: list[float]) -> list[float]:
    # a 1-channel model on RGB scenes: fill every band with the gray mean
    return mean if len(mean) == scene.channels else [mean[0]] * scene.channels


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


def _same_grid(a: GeoRef, b: GeoRef) -> bool:
    from rasterio.crs import CRS

    same_crs = (a.crs is None and b.crs is None) or (a.crs is not None and b.crs is not None
                                                     and CRS.from_user_input(a.crs) == CRS.from_user_input(b.crs))
    return same_crs and np.allclose(a.transform, b.transform, rtol=0, atol=1e-9 * max(1.0, *map(abs, a.transform)))


def read_scene_mask(mask_path: Path, image_path: Path, georef: GeoRef | None, shape: tuple[int, int],
                    threshold: int = 127) -> np.ndarray:
    """An image's avalanche mask from a mask raster (same grid) or polygons (rasterised onto the image's grid)."""
    if mask_path.suffix.lower() in VECTOR_SUFFIXES:
        return rasterize_labels(mask_path, georef, shape, image=image_path)
    mask = read_mask(mask_path, threshold)
    if mask.shape != shape:
        raise UserError(f"mask {mask_path} is {mask.shape[0]}×{mask.shape[1]} px but image {image_path} "
                        f"is {shape[0]}×{shape[1]} px")
    if mask_path.suffix.lower() in RASTERIO_SUFFIXES and georef is not None:
        mask_georef = read_raster(mask_path, [1]).georef
        if mask_georef is not None and not _same_grid(mask_georef, georef):
            raise UserError(f"mask {mask_path} is on another grid than image {image_path} (CRS or transform "
                            "differ): resample it onto the image's grid, or give the labels as polygons")
    return mask


def _index(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> dict[str, Path]:
    files: dict[str, Path] = {}
    if folder.is_dir():
        for p in sorted(folder.iterdir()):
            if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith("."):
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
    masks, refs = _index(root / "masks", IMAGE_SUFFIXES + VECTOR_SUFFIXES), _index(root / "references")
    return [(name, path, masks.get(name), refs.get(name)) for name, path in images.items()]


def load_scene(image_path: Path, mask_path: Path | None = None, *, name: str | None = None,
               threshold: int = 127, bands: str | list | None = None) -> Scene:
    """Read one image's `bands` and its mask (a raster on the same grid, or polygons rasterised onto it);
    nodata → `valid`."""
    raster = read_raster(image_path, bands)
    image, georef = raster.image, raster.georef
    mask = None
    if mask_path is not None:
        mask = read_scene_mask(Path(mask_path), Path(image_path), georef, image.shape[:2], threshold)
        if raster.valid is not None:
            mask = mask & raster.valid
    return Scene(name or Path(image_path).stem, image, mask, georef, Path(image_path), raster.valid, raster.band_names)


def load_scenes(root: str | os.PathLike, *, require_masks: bool = True, threshold: int = 127,
                bands: str | list | None = None, labels: str | os.PathLike | None = None) -> list[Scene]:
    """Every scene of a seed-layout folder, sorted by name. An image with no avalanche (all-zero mask) is valid.

    `labels`: one polygon file (GeoJSON, GeoPackage, Shapefile) for every image, rasterised onto each image's
    grid instead of `masks/`."""
    scenes = []
    if labels is not None and not Path(labels).is_file():
        raise UserError(f"labels not found: {labels}")
    for name, image_path, mask_path, _ in scene_files(root):
        if labels is not None:
            mask_path = Path(labels)
        if mask_path is None and require_masks:
            raise UserError(f"no mask for image {image_path.name} in {Path(root) / 'masks'}")
        scenes.append(load_scene(image_path, mask_path, name=name, threshold=threshold, bands=bands))
    return scenes


# ---------------------------------------------------------------------------------------------- writing

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
