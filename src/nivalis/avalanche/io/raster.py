"""Raster reading: georeferencing, band selection (`--bands`), whole and windowed reads, nodata as a valid mask.

GeoTIFFs and VRTs are read with rasterio; their georeferencing (CRS and affine transform) travels with the
pixels as a :class:`GeoRef` so that every output lands on the map where the input was. A raster referenced
only by ground control points or rational polynomial coefficients (no geotransform: a GCP- or RPC-referenced
scene) is read through GDAL's warped VRT onto the north-up grid GDAL suggests for it (nearest neighbour, so
pixel values are kept; pixels outside the scene's footprint are nodata), and its `GeoRef.source` says so.
A raster with no georeferencing at all, and JPEG and PNG (read with OpenCV), are in pixel coordinates (no CRS).

Radiometry is data, never stretched per file: pixels keep their dtype (uint8, uint16, int16, float32
reflectance) and the model standardises band :math:`k` with statistics computed once over the valid
pixels of its training scenes and stored in its checkpoint,

.. math::
    x'_k = (s\\,x_k - \\mu_k) / \\sigma_k,\\qquad s = 1/255 \text{ for uint8, else } 1,

so a pixel gets the same input whether it is read from a crop or the full scene. Which bands are read
is a :class:`BandSelection`: 1-based indices or names matched against the band descriptions (or colour
interpretation): e.g. ``red,green,blue,nir``. By default an image with 1–3 bands is read as gray / RGB,
and one with more bands (or described bands) must name red, green and blue in its descriptions: a
B,G,R,NIR file is never taken as RGB by position.

Nodata (the declared nodata value, NaN, an alpha band or an internal mask, through rasterio's
`read_masks`; a PNG's alpha channel) becomes the `valid` mask (None: every pixel valid).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nivalis.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".vrt")
GEOTIFF_SUFFIXES = (".tif", ".tiff")
RASTERIO_SUFFIXES = GEOTIFF_SUFFIXES + (".vrt",)  # read through GDAL (a VRT mosaics tiles into one scene)
COLOURS = ("red", "green", "blue")


@dataclass(frozen=True)
class GeoRef:
    """Where a raster lies on the map: CRS (WKT or 'EPSG:n') and GDAL-order affine coefficients (a, b, c, d, e, f)."""

    crs: str | None
    transform: tuple[float, float, float, float, float, float]
    source: str = "transform"  # or "gcps" / "rpcs": the grid GDAL warps a scene referenced by them to

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


def bounds_window(bounds: tuple[float, float, float, float], transform, height: int, width: int):
    """The rasterio Window of whole pixels covering map `bounds` (min x, min y, max x, max y) on a grid of any
    orientation (north-up, south-up as pixel coordinates are, rotated), clipped to the raster."""
    import math

    from rasterio.windows import Window

    x0, y0, x1, y1 = bounds
    cols, rows = zip(*(~transform * (x, y) for x, y in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))))
    r0, c0 = max(math.floor(min(rows) + 1e-9), 0), max(math.floor(min(cols) + 1e-9), 0)
    r1, c1 = min(math.ceil(max(rows) - 1e-9), height), min(math.ceil(max(cols) - 1e-9), width)
    return Window(c0, r0, max(c1 - c0, 0), max(r1 - r0, 0))


# ---------------------------------------------------------------------------------------------- bands

@dataclass(frozen=True)
class BandSelection:
    """Which bands to read (`--bands`): 1-based indices and/or lower-case names from the band descriptions.

    Parsed once from the option's text (`BandSelection.parse("red,green,blue")`) and handed on as it is;
    None where a caller means "the file's default bands" (gray / RGB, or the bands described red, green, blue).
    """

    items: tuple[int | str, ...]

    @classmethod
    def parse(cls, spec: str | Sequence[int | str] | BandSelection | None) -> BandSelection | None:
        """`--bands` text (``1,2,3`` or ``red,green,blue,nir``), a list of indices / names, or a selection;
        None stays None."""
        if spec is None or isinstance(spec, BandSelection):
            return spec
        items = [str(t).strip() for t in (spec.split(",") if isinstance(spec, str) else spec)]
        if not items or any(not t for t in items):
            raise UserError(f"--bands must be comma-separated band indices (1,2,3) or names (red,green,blue), "
                            f"got {spec!r}")
        return cls(tuple(int(t) if t.isdigit() else t.lower() for t in items))

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[int | str]:
        return iter(self.items)

    def __str__(self) -> str:
        return ",".join(map(str, self.items))


def resolve_bands(bands: BandSelection | Sequence[int | str] | None, names: Sequence[str], path: Path,
                  alpha: tuple[int, ...] = ()) -> list[int]:
    """0-based indices of the bands to read from a file whose bands are named `names` ('' when undescribed)."""
    names = list(names)
    selection = BandSelection.parse(bands)
    count = len(names)
    shown = ",".join(n or "?" for n in names)
    if selection is None:
        data = [i for i in range(count) if i not in alpha]
        if all(c in names for c in COLOURS):
            return [names.index(c) for c in COLOURS]
        described = [names[i] for i in data if names[i]]
        if len(data) <= 2:
            return data[:1]
        if len(data) == 3 and (not described or described == list(COLOURS)):
            return data
        raise UserError(f"image {path} has {len(data)} bands ({shown}) that are not described as red, green, blue: "
                        "say which to use with --bands (e.g. --bands red,green,blue,nir or --bands 3,2,1)")
    out = []
    for item in selection:
        if isinstance(item, int):
            if not 1 <= item <= count:
                raise UserError(f"--bands {item}: image {path} has bands 1..{count}")
            out.append(item - 1)
        elif item in names:
            out.append(names.index(item))
        else:
            raise UserError(f"--bands {item}: image {path} has no band described as {item!r} (bands: {shown})")
    return out


# ---------------------------------------------------------------------------------------------- GeoTIFF / VRT

@dataclass(frozen=True)
class RasterHeader:
    """What an open raster's header says of the bands selected: their 0-based indices and names, pixel type, grid."""

    path: Path
    index: tuple[int, ...]
    band_names: tuple[str, ...]   # lower-case description / colour of each band read ('' when unknown)
    dtype: np.dtype
    georef: GeoRef | None
    height: int
    width: int


def unreadable(path: Path, exc: BaseException) -> UserError:
    """The one-line error for a raster GDAL cannot open or decode."""
    reason = str(exc).splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
    if any(s in reason.lower() for s in ("previous exception", "tiffreadencoded", "read failed")):
        reason = "its pixel data cannot be read (a truncated or damaged TIFF)"
    return UserError(f"cannot read image {path}: {reason}")


def georeferencing(ds) -> str | None:
    """How an open dataset is placed on the map: 'transform', 'gcps', 'rpcs' or None (pixel coordinates)."""
    # GDAL reports a missing geotransform as the identity (a south-up grid at 0, 0): never a real placement,
    # whatever CRS the file names
    if not ds.transform.is_identity:
        return "transform"
    if ds.gcps[0]:
        return "gcps"
    if ds.rpcs is not None:
        return "rpcs"
    return None


@contextmanager
def open_raster(path: str | os.PathLike):
    """An open rasterio dataset; a file GDAL cannot open is a UserError. A GCP- or RPC-referenced raster is
    yielded as GDAL's warped VRT of it (a north-up grid; see the module docstring); a raster without any
    georeferencing is read in pixel coordinates, without rasterio's warning."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            ds = rasterio.open(path)
        except OSError as exc:  # RasterioIOError is one
            raise unreadable(Path(path), exc) from None
        with ds:
            kind = georeferencing(ds)
            if kind in ("gcps", "rpcs"):
                with _warped(ds, kind, Path(path)) as vrt:
                    yield vrt
            else:
                yield ds


@contextmanager
def _warped(ds, kind: str, path: Path):
    """GDAL's warped VRT of a GCP/RPC-referenced dataset: its GCPs' CRS (RPCs are WGS 84 longitude/latitude),
    the suggested north-up grid, nearest neighbour; an alpha band (or the nodata value) marks the footprint."""
    from rasterio.enums import ColorInterp
    from rasterio.errors import CRSError, RasterioError
    from rasterio.vrt import WarpedVRT

    src_crs = ds.gcps[1] if kind == "gcps" else "EPSG:4326"
    if src_crs is None:
        raise UserError(f"image {path} has ground control points but no CRS for them: give it one "
                        "(gdal_translate -a_srs) or a geotransform")
    alpha = [i + 1 for i, c in enumerate(ds.colorinterp) if c == ColorInterp.alpha]
    footprint = {"src_alpha": alpha[0], "dst_alpha": alpha[0]} if alpha \
        else {} if ds.nodata is not None else {"add_alpha": True}
    try:
        vrt = WarpedVRT(ds, src_crs=src_crs, **footprint)
    except (CRSError, RasterioError, ValueError) as exc:
        reason = str(exc).splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise UserError(f"image {path} is referenced by {kind.upper()} that GDAL cannot warp to a map grid "
                        f"({reason}): give it a geotransform (gdalwarp)") from None
    with vrt:
        vrt.georeferencing = kind  # read by `dataset_georef`
        yield vrt


def read_header(ds, path: str | os.PathLike, bands: BandSelection | Sequence[int | str] | None = None) -> RasterHeader:
    """The bands `bands` selects of an open rasterio dataset (by index, description or colour interpretation)."""
    from rasterio.enums import ColorInterp

    interp = list(ds.colorinterp)
    colours = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
    names = [(d or "").strip().lower() or (c.name if c in colours else "") for d, c in zip(ds.descriptions, interp)]
    alpha = tuple(i for i, c in enumerate(interp) if c == ColorInterp.alpha)
    index = resolve_bands(bands, names, Path(path), alpha)
    return RasterHeader(Path(path), tuple(index), tuple(names[i] for i in index), np.dtype(ds.dtypes[index[0]]),
                        dataset_georef(ds), int(ds.height), int(ds.width))


def dataset_georef(ds) -> GeoRef | None:
    """The GeoRef of an open dataset (or of `open_raster`'s warped VRT of one); None in pixel coordinates."""
    if ds.transform.is_identity:
        return None
    crs = ds.crs.to_string() if ds.crs else None
    return GeoRef(crs, tuple(ds.transform)[:6], getattr(ds, "georeferencing", "transform"))


def read_window(ds, index: Sequence[int], window=None) -> tuple[np.ndarray, np.ndarray]:
    """Bands `index` (0-based) of a window of an open dataset, [C, h, w], and its valid pixels [h, w]: every
    band's mask (nodata value, alpha, internal mask) and, for floats, finite."""
    try:
        data = ds.read([i + 1 for i in index], window=window)
        valid = np.ones(data.shape[1:], bool)
        for i in index:
            valid &= ds.read_masks(i + 1, window=window) > 0
    except OSError as exc:  # a truncated or damaged file fails here, after its header was read
        raise unreadable(Path(ds.name), exc) from None
    if data.dtype.kind == "f":
        valid &= np.isfinite(data).all(0)
    return data, valid


# ---------------------------------------------------------------------------------------------- whole images

@dataclass
class Raster:
    """The bands read from one image file: pixels in the file's dtype, valid-pixel mask, band names, georeferencing."""

    image: np.ndarray
    georef: GeoRef | None
    valid: np.ndarray | None
    band_names: tuple[str, ...]
    band_index: tuple[int, ...] = ()  # 0-based: which of the file's bands these are


def _read_geotiff(path: Path, bands: BandSelection | None) -> Raster:
    try:
        with open_raster(path) as ds:
            header = read_header(ds, path, bands)
            data, valid = read_window(ds, header.index)
    except UserError:
        raise
    except (OSError, ValueError) as exc:
        raise unreadable(path, exc) from None
    if data.dtype.kind not in "uif" or data.dtype.itemsize > 4 and data.dtype.kind != "f":
        raise UserError(f"image {path} has {data.dtype} pixels: uint8, uint16, int16, uint32/int32 or float are read")
    return Raster(np.moveaxis(data, 0, -1), header.georef, None if valid.all() else valid, header.band_names,
                  header.index)


def _read_picture(path: Path, bands: BandSelection | None) -> Raster:
    """A JPEG or PNG: gray or RGB (an alpha channel becomes the valid mask), pixel coordinates."""
    import cv2

    from nivalis.data.decode import read_image_file

    raw = read_image_file(path, flags=cv2.IMREAD_UNCHANGED)
    valid = None
    if raw.ndim == 3 and raw.shape[2] in (2, 4):  # gray + alpha or BGRA
        valid = raw[..., -1] > 0
        raw = raw[..., :-1]
        valid = None if valid.all() else valid
    if raw.ndim == 2 or raw.shape[2] == 1:
        image, names = raw.reshape(*raw.shape[:2], 1), ["gray"]
    else:
        image, names = cv2.cvtColor(raw[..., :3], cv2.COLOR_BGR2RGB), list(COLOURS)
    # A colour image whose three bands are equal is gray: keep it 1-channel so gray models accept it.
    if image.shape[2] == 3 and np.array_equal(image[..., 0], image[..., 1]) \
            and np.array_equal(image[..., 0], image[..., 2]):
        image, names = image[..., :1], ["gray"]
    index = resolve_bands(bands, names, path) if bands is not None else list(range(image.shape[2]))
    return Raster(image[..., index], None, valid, tuple(names[i] for i in index), tuple(index))


def read_raster(path: str | os.PathLike, bands: BandSelection | str | Sequence[int | str] | None = None) -> Raster:
    """The selected bands of an image in their own dtype ([H, W, C]), its valid pixels and its georeferencing."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"image not found: {path}")
    selection = BandSelection.parse(bands)
    read = _read_geotiff if path.suffix.lower() in RASTERIO_SUFFIXES else _read_picture
    raster = read(path, selection)
    image = raster.image
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise UserError(f"image {path} is too small ({image.shape[0]}×{image.shape[1]} px)")
    raster.image = np.ascontiguousarray(image)
    return raster


def read_image(path: str | os.PathLike, bands: BandSelection | str | Sequence[int | str] | None = None
               ) -> tuple[np.ndarray, GeoRef | None]:
    """[H, W, C] in the file's dtype (C = 1 gray, 3 RGB, or the `bands` asked for) and the georeferencing of a
    GeoTIFF (None otherwise)."""
    raster = read_raster(path, bands)
    return raster.image, raster.georef


# ---------------------------------------------------------------------------------------------- pixels

def to_channels(image: np.ndarray, channels: int, where: str = "image") -> np.ndarray:
    """Give `image` the `channels` a model was trained on: RGB → gray is a luminance conversion;
    gray → RGB would invent colour, so it is a user error."""
    have = image.shape[2]
    if have == channels:
        return image
    if have == 3 and channels == 1:
        if image.dtype == np.uint8:
            import cv2

            return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)[..., None]
        gray = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return (np.round(gray) if image.dtype.kind in "iu" else gray).astype(image.dtype)[..., None]
    raise UserError(f"{where} has {have} channel(s) but the model was trained on {channels}; "
                    "give it the bands the model was trained on (--bands) or train a 1-channel model (--channels 1)")


def fill_nodata(image: np.ndarray, valid: np.ndarray | None, mean: list[float], scale: float = 1.0) -> np.ndarray:
    """`image` with its nodata pixels set to the model's band means (its standardised input 0 there), so
    windows reaching into nodata see a neutral value, the same in a crop and in the full scene. A 1-channel
    model's one mean fills every band of a multi-band image."""
    if valid is None or valid.all():
        return image
    if len(mean) != image.shape[2]:
        mean = [mean[0]] * image.shape[2]
    out = image.copy()
    fill = np.asarray(mean, np.float64) / scale
    if image.dtype.kind in "iu":
        info = np.iinfo(image.dtype)
        fill = np.clip(np.round(fill), info.min, info.max)
    out[~valid] = fill.astype(image.dtype)
    return out


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
