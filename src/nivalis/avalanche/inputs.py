"""What a trained window classifier takes as input (its bands, pixel type, channels) and scenes read and checked for it.

`input_summary` says what a prediction was given: the bands read, the scaling into the model's units, how
the scene lies on the map, and how far its radiometry lies from the checkpoint's training statistics,

.. math::
    d_k = |s\\,\\bar{x}_k - \\mu_k| / \\sigma_k,

:math:`\\bar{x}_k` the mean of band :math:`k` over the scene's valid pixels, :math:`s` the input scale and
:math:`\\mu_k, \\sigma_k` the checkpoint's statistics; a scene with :math:`\\max_k d_k` above
`RADIOMETRY_SIGMA_WARN` (other units, e.g. Landsat DN for a reflectance model, or other bands) is
predicted with a warning.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np

from nivalis.avalanche.io.layout import Scene, fill_scene, load_scene
from nivalis.avalanche.io.raster import (
    RASTERIO_SUFFIXES,
    BandSelection,
    GeoRef,
    RasterHeader,
    read_header,
    to_channels,
    unreadable,
)
from nivalis.avalanche.models import WindowClassifier
from nivalis.errors import UserError


def model_bands(classifier: WindowClassifier) -> list[str] | None:
    """The band names the model was trained on (None when its training images had undescribed bands)."""
    bands = getattr(classifier, "meta", {}).get("radiometry", {}).get("bands")
    # a 1-channel model trained on RGB (luminance) takes gray or RGB images: no band names to insist on
    return list(bands) if bands and len(bands) == classifier.channels else None


@contextmanager
def _model_bands_hint(classifier: WindowClassifier, selection: BandSelection | None) -> Iterator[None]:
    """A band error of a read that fell back on the model's bands says which bands the model was trained on."""
    try:
        yield
    except UserError as exc:
        expected = model_bands(classifier)
        if selection is not None or not expected or "--bands" not in str(exc):
            raise
        raise UserError(f"the model was trained on {len(expected)} channel(s), bands {','.join(expected)}: {exc}") \
            from None


def _wanted(classifier: WindowClassifier, selection: BandSelection | None) -> BandSelection | None:
    expected = model_bands(classifier)
    return selection if selection is not None or expected is None else BandSelection(tuple(expected))


def check_bands(classifier: WindowClassifier, band_names: tuple[str, ...], dtype: np.dtype, where: str) -> None:
    """A one-line UserError when the bands or pixel type read are not the ones the model was trained on."""
    expected = model_bands(classifier)
    model_dtype = getattr(classifier, "input_dtype", "uint8")
    if expected and band_names and all(band_names) and list(band_names) != expected:
        raise UserError(f"{where} has bands {','.join(band_names)} but the model was trained on "
                        f"{','.join(expected)}: choose them with --bands")
    if np.dtype(dtype).name != model_dtype:
        raise UserError(f"{where} has {np.dtype(dtype)} pixels but the model was trained on {model_dtype} images "
                        "(its normalisation statistics are in those units)")


def check_scene(classifier: WindowClassifier, scene: Scene) -> None:
    """`check_bands` of a loaded scene."""
    check_bands(classifier, scene.band_names, scene.image.dtype, f"image {scene.image_path or scene.name}")


def model_header(classifier: WindowClassifier, ds, path: str | Path, bands: BandSelection | None) -> RasterHeader:
    """The header of an open raster for the bands the model expects (`bands`, else its checkpoint's), checked."""
    with _model_bands_hint(classifier, bands):
        header = read_header(ds, path, _wanted(classifier, bands))
    check_bands(classifier, header.band_names, header.dtype, f"image {path}")
    return header


def load_model_scene(classifier: WindowClassifier, image_path: str | Path, mask_path: str | Path | None = None, *,
                     bands: BandSelection | str | list | None = None, name: str | None = None,
                     threshold: int = 127) -> Scene:
    """Read the bands the model expects (`bands`, else the names stored in its checkpoint) and check them."""
    selection = BandSelection.parse(bands)
    with _model_bands_hint(classifier, selection):
        scene = load_scene(Path(image_path), None if mask_path is None else Path(mask_path), name=name,
                           threshold=threshold, bands=_wanted(classifier, selection))
    check_scene(classifier, scene)
    return scene


def load_model_scenes(classifier: WindowClassifier, data: str | Path, *, bands: BandSelection | str | list | None,
                      threshold: int, labels: str | Path | None = None) -> list[Scene]:
    """Every scene of a folder, read as `load_model_scene` reads one (checked when it is mapped)."""
    from nivalis.avalanche.io.layout import load_scenes

    selection = BandSelection.parse(bands)
    with _model_bands_hint(classifier, selection):
        return load_scenes(data, threshold=threshold, bands=_wanted(classifier, selection), labels=labels)


def model_input(classifier: WindowClassifier, scene: Scene) -> np.ndarray:
    """The scene's image as the model takes it: its channels, nodata set to the stored band means."""
    mean = classifier.mean.tolist()
    image = to_channels(scene.image, classifier.channels, f"image {scene.image_path or scene.name}")
    return fill_scene(replace(scene, image=image), mean, getattr(classifier, "input_scale", 1 / 255)).image


# ------------------------------------------------------------------------------------------------ what was read

#: band means further than this many training standard deviations from the checkpoint's are warned about
RADIOMETRY_SIGMA_WARN = 5.0
#: the radiometry of a streamed scene is measured on a read decimated to at most this many pixels a side
SAMPLE_SIDE = 512
_PLACED = {"gcps": "ground control points (GCPs)", "rpcs": "rational polynomial coefficients (RPCs)"}


def input_summary(classifier: WindowClassifier, image: np.ndarray, valid: np.ndarray | None, *,
                  band_names: tuple[str, ...], band_index: tuple[int, ...], georef: GeoRef | None,
                  path: str | Path, size: tuple[int, int] | None = None) -> dict:
    """`bands` (names, else 1-based indices), `scaling` (dtype, factor, the checkpoint's mean/std),
    `georeferencing` (transform, gcps, rpcs or none), `radiometry_sigma` (max over bands of the distance in the
    module docstring; None without a valid pixel) and `radiometry_sigma_bands` of an image [H, W, C] (a whole
    scene or a decimated read of one; `size` is then the scene's), with a warning when the radiometry or the
    georeferencing needs one."""
    where = f"image {path}"
    x = to_channels(image, classifier.channels, where)
    pixels = x[valid] if valid is not None else x.reshape(-1, x.shape[2])
    pixels = pixels[::max(1, pixels.shape[0] // 1_000_000)]  # a million pixels say the mean well enough
    scale = float(getattr(classifier, "input_scale", 1 / 255))
    mean, std = classifier.mean.double().numpy(), classifier.std.double().numpy()
    distance = None
    if pixels.size:
        with np.errstate(invalid="ignore", over="ignore"):
            distance = np.abs(pixels.astype(np.float64).mean(0) * scale - mean) / np.maximum(std, 1e-12)
    bands = [name or str(i + 1) for name, i in zip(band_names, band_index)] or list(band_names) or None
    summary = {"bands": bands,
               "scaling": {"dtype": np.dtype(image.dtype).name, "factor": scale,
                           "mean": [round(float(v), 6) for v in mean], "std": [round(float(v), 6) for v in std]},
               "georeferencing": georef.source if georef is not None else "none",
               "radiometry_sigma": None, "radiometry_sigma_bands": None}
    if distance is not None and np.isfinite(distance).all():
        summary["radiometry_sigma"] = round(float(distance.max()), 2)
        summary["radiometry_sigma_bands"] = [round(float(v), 2) for v in distance]
        if distance.max() > RADIOMETRY_SIGMA_WARN:
            k = int(distance.argmax())
            shown = ",".join(bands) if bands else f"{x.shape[2]} band(s)"
            warnings.warn(f"{where}: its radiometry lies {distance.max():.1f} σ from the model's training statistics "
                          f"(band {k + 1} of {shown}: mean {pixels[:, k].astype(np.float64).mean() * scale:.4g} vs "
                          f"{mean[k]:.4g} ± {std[k]:.4g}, {summary['scaling']['dtype']} × {scale:.4g}); the "
                          "prediction is unreliable: check the bands (--bands) and units (DN vs reflectance)",
                          stacklevel=2)
    _note_georeferencing(Path(path), georef, size or x.shape[:2])
    return summary


def dataset_input_summary(classifier: WindowClassifier, ds, header: RasterHeader) -> dict:
    """`input_summary` of an open raster, its radiometry from a read decimated to `SAMPLE_SIDE` px a side."""
    from rasterio.enums import Resampling

    f = max(1, math.ceil(max(header.height, header.width) / SAMPLE_SIDE))
    shape = (max(1, header.height // f), max(1, header.width // f))
    try:
        data = ds.read([i + 1 for i in header.index], out_shape=(len(header.index), *shape),
                       resampling=Resampling.nearest)
        valid = np.ones(shape, bool)
        for i in header.index:
            valid &= ds.read_masks(i + 1, out_shape=shape, resampling=Resampling.nearest) > 0
    except OSError as exc:
        raise unreadable(header.path, exc) from None
    if data.dtype.kind == "f":
        valid &= np.isfinite(data).all(0)
    return input_summary(classifier, np.moveaxis(data, 0, -1), valid, band_names=header.band_names,
                         band_index=header.index, georef=header.georef, path=header.path,
                         size=(header.height, header.width))


def scene_input_summary(classifier: WindowClassifier, scene: Scene) -> dict:
    """`input_summary` of a scene read whole."""
    return input_summary(classifier, scene.image, scene.valid, band_names=scene.band_names,
                         band_index=scene.band_index, georef=scene.georef, path=scene.image_path or scene.name)


def _note_georeferencing(path: Path, georef: GeoRef | None, shape: tuple[int, int]) -> None:
    """Say once where a raster's outputs lie when it is not placed by a geotransform (JPEG/PNG never are)."""
    if georef is None and path.suffix.lower() in RASTERIO_SUFFIXES:
        warnings.warn(f"image {path} has no georeferencing (no geotransform, GCPs or RPCs): its outputs are in "
                      "pixel coordinates (x = column, y = row), the polygons in a GeoPackage without CRS and no "
                      "GeoJSON", stacklevel=3)
    elif georef is not None and georef.source != "transform":
        warnings.warn(f"image {path} is placed by its {_PLACED[georef.source]}, not a geotransform: it is mapped on "
                      f"the north-up grid GDAL warps it to ({georef.crs}, {shape[0]}×{shape[1]} px of "
                      f"{math.sqrt(georef.pixel_area):.4g} CRS units)", stacklevel=3)
