"""Seed 000's own release, read and written: ``image/NAME.mat`` (echogram, positions) + ``layer_bin/NAME.png`` (labels).

The label image is binary, white = the top of a firn layer, lines 1–2 px thick (seed 000 §III); it is traced
into layer rows per column by `nivalis.snow.readers.label_trace` (by order in each column, as the seed's authors
read them, and aligned where the number of lines changes). Layers that step more than ``TRACK_TOLERANCE_PX``
between adjacent columns are traced all the same; the radargram's notes say how far they step.

Positions come from ``Latitude``/``Longitude`` vectors, or from a W × 2 / 2 × W matrix under any field
name (seed 000: "a 256×2 matrix specifying the geographic latitude and longitude"), latitude first; the
ranges are checked. Several candidate matrices are ambiguous: ``latlon_field`` (``--latlon-field``) picks
one (files without that field fall back to the rule above). The largest other 2-D array W columns wide
is the echogram, kept (``echogram=True``) for figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nivalis.errors import UserError
from nivalis.snow.readers.label_trace import BRIDGE_COLUMNS, TRACK_TOLERANCE_PX, trace_label_image
from nivalis.snow.readers.matfile import numeric, read_mat
from nivalis.snow.readers.radargram import (
    Radargram,
    ReadOptions,
    clean_coordinates,
    drop_empty,
    largest_step,
    set_survey_year,
)

LABEL_SUFFIXES = (".png", ".bmp", ".tif", ".tiff")


def read_label_image(path: Path) -> np.ndarray:
    """The label image as a boolean [rows, columns] array (white = layer top), read with OpenCV."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise UserError(f"{path}: not a readable image")
    if image.ndim == 3:
        image = image[..., :3].max(axis=-1)
    top = float(image.max())
    return image > (top / 2 if top > 0 else 0)


def _latlon(path: Path, raw: dict[str, Any], width: int, latlon_field: str | None) -> tuple[np.ndarray, np.ndarray]:
    if latlon_field is not None and latlon_field in raw:  # files without it fall back to what they hold
        value = numeric(raw[latlon_field])
        if value is None:
            raise UserError(f"{path}: field {latlon_field!r} (--latlon-field) is not numeric")
        candidates = {latlon_field: value}
    elif "Latitude" in raw and "Longitude" in raw:
        lat, lon = numeric(raw["Latitude"]), numeric(raw["Longitude"])
        if lat is None or lon is None or lat.size != width or lon.size != width:
            raise UserError(f"{path}: Latitude/Longitude must have {width} values, one per label column")
        return lat.reshape(-1), lon.reshape(-1)
    else:
        candidates = {k: v for k, v in ((k, numeric(v)) for k, v in raw.items())
                      if v is not None and v.ndim == 2 and sorted(v.shape) == sorted((2, width))}
    plausible = {}
    for key, value in candidates.items():
        pair = value if value.shape == (width, 2) else value.T
        if pair.shape != (width, 2):
            raise UserError(f"{path}: field {key!r} is {value.shape}, not {width}×2 latitude/longitude")
        lat, lon = pair[:, 0], pair[:, 1]
        with np.errstate(invalid="ignore"):
            if np.nanmax(np.abs(lat)) <= 90 and np.nanmin(lon) >= -180 and np.nanmax(lon) <= 360:
                plausible[key] = (lat, lon)
    if not plausible:
        raise UserError(f"{path}: no {width}×2 latitude/longitude matrix (nor Latitude/Longitude vectors) with "
                        "plausible degrees; name it with --latlon-field")
    if len(plausible) > 1:
        raise UserError(f"{path}: several {width}×2 matrices could be latitude/longitude "
                        f"({', '.join(sorted(plausible))}); choose one with --latlon-field")
    return next(iter(plausible.values()))


def read_seed_pair(image_mat: Path, label: Path, options: ReadOptions) -> Radargram:
    """One radargram of the seed's release from its ``image/NAME.mat`` and ``layer_bin/NAME.*`` label image."""
    notes: list[str] = []
    raw, kind = read_mat(image_mat)
    raw = drop_empty(image_mat, raw, notes)
    mask = read_label_image(label)
    width = mask.shape[1]
    lat, lon = _latlon(image_mat, raw, width, options.latlon_field)
    lat, lon = clean_coordinates(image_mat, lat, lon, notes)
    layers = trace_label_image(mask)
    if layers.shape[0] == 0:
        raise UserError(f"{label}: no white (layer) pixels in the label image")
    step, layer, col = largest_step(layers)
    if step > TRACK_TOLERANCE_PX:
        notes.append(f"label lines step up to {step:g} px between adjacent columns (layer {layer}, columns {col}-"
                     f"{col + 1}); traced by their order in each column")
    arrays = {k: v for k, v in raw.items() if numeric(v) is not None and v.ndim == 2}  # images keep their dtype
    images = {k: v for k, v in arrays.items() if v.shape[1] == width and v.shape[0] > 2}
    echogram = max(images.items(), key=lambda kv: kv[1].size)[1] if images else None
    if echogram is not None and echogram.shape[0] != mask.shape[0]:
        notes.append(f"echogram has {echogram.shape[0]} rows, the label image {mask.shape[0]}")
    elevation = numeric(raw.get("Elevation"))
    elevation = elevation.reshape(-1) if elevation is not None and elevation.size == width else None
    radargram = Radargram(image_mat, layers, lat, lon, elevation, {}, echogram if options.echogram else None, kind,
                          "seed_release", notes=notes)
    return set_survey_year(radargram, numeric(raw.get("GPS_time")))


def seed_release_pairs(folder: Path) -> tuple[list[tuple[Path, Path]], dict[str, str]]:
    """([(image .mat, label image)], {unpaired file: why}) of a folder with ``image/`` and ``layer_bin/``."""
    images = {p.stem: p for p in sorted((folder / "image").glob("*.mat")) if p.is_file()}
    labels: dict[str, Path] = {}
    for p in sorted((folder / "layer_bin").iterdir()):
        if p.is_file() and p.suffix.lower() in LABEL_SUFFIXES:
            labels.setdefault(p.stem, p)
    pairs = [(images[s], labels[s]) for s in sorted(images) if s in labels]
    bad = {str(images[s]): f"{images[s]}: no label image layer_bin/{s}.png (or .bmp/.tif)"
           for s in images if s not in labels}
    bad.update({str(labels[s]): f"{labels[s]}: no image/{s}.mat beside the label image" for s in labels
                if s not in images})
    return pairs, bad


def write_seed_pair(folder: str | Path, name: str, echogram: np.ndarray, latitude: np.ndarray, longitude: np.ndarray,
                    layers: np.ndarray, *, fmt: str = "v7.3", extra: dict[str, np.ndarray] | None = None
                    ) -> tuple[Path, Path]:
    """Write one radargram in the seed's layout (inverse of `read_seed_pair`, up to the tracing rules above).

    ``image/NAME.mat``: the echogram [rows × W] under ``echogram`` and a W × 2 ``latlon`` matrix (latitude,
    longitude), plus `extra` variables (e.g. ``Elevation``); ``layer_bin/NAME.png``: an 8-bit image of the
    echogram's size, white (255) at the rounded row of every tracked (finite) pick of `layers` [L × W], one
    pixel thick, black elsewhere. Both files are written atomically.
    """
    import cv2

    from nivalis.files import atomic_path
    from nivalis.snow.readers.matfile import write_mat

    folder = Path(folder)
    height, width = echogram.shape
    label = np.zeros((height, width), dtype=np.uint8)
    rows = np.round(np.asarray(layers, dtype=np.float64))
    ok = np.isfinite(rows) & (rows >= 0) & (rows < height)
    label[rows[ok].astype(np.int64), np.broadcast_to(np.arange(width), rows.shape)[ok]] = 255
    image = folder / "image" / f"{name}.mat"
    write_mat(image, {"echogram": echogram, "latlon": np.stack([latitude, longitude], axis=1), **(extra or {})}, fmt)
    png = folder / "layer_bin" / f"{name}.png"
    with atomic_path(png) as tmp:
        if not cv2.imwrite(str(tmp), label):
            raise UserError(f"{png}: could not write the label image")
    return image, png


def is_seed_release(folder: Path) -> bool:
    """Whether `folder` has the release's ``image/`` and ``layer_bin/`` sub-folders."""
    return folder.is_dir() and (folder / "image").is_dir() and (folder / "layer_bin").is_dir()


def seed_pair_of(path: Path) -> tuple[Path, Path] | None:
    """(image .mat, label image) when `path` is one half of a seed-release pair."""
    root = path.parent.parent
    if path.suffix.lower() == ".mat" and path.parent.name == "image":
        labels = [root / "layer_bin" / f"{path.stem}{s}" for s in LABEL_SUFFIXES]
        found = next((p for p in labels if p.is_file()), None)
        return (path, found) if found else None
    if path.suffix.lower() in LABEL_SUFFIXES and path.parent.name == "layer_bin":
        image = root / "image" / f"{path.stem}.mat"
        return (image, path) if image.is_file() else None
    return None


__all__ = ["BRIDGE_COLUMNS", "LABEL_SUFFIXES", "is_seed_release", "read_label_image", "read_seed_pair",
           "seed_pair_of", "seed_release_pairs", "trace_label_image", "write_seed_pair"]
