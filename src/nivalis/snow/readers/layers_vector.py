"""The processed CReSIS / Lehigh layout (v5 or v7.3 `.mat`, ``layers_vector`` [L × 256] pixel rows): read and write.

Fields: ``layers_vector`` [L × 256], pixel row of each tracked layer per column, row 0 = the (flattened)
surface, NaN where a layer is not tracked; ``Latitude``, ``Longitude`` [256] in degrees; optional
``Elevation`` [256] (m), physical fields [L × 256] (``curr_smb``, ``curr_temp``, ``curr_dens``, ...; row i
describes layer i, between rows i and i + 1), an echogram ``Data`` [rows × 256] (``echogram`` is accepted
too) and its ``Time`` axis [rows] (s), which turns pixel rows into travel time and so into metres.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from nivalis.errors import UserError
from nivalis.snow.readers.matfile import numeric, write_mat
from nivalis.snow.readers.radargram import (
    Radargram,
    check_pixel_rows,
    clean_coordinates,
    drop_empty,
    set_survey_year,
)

REQUIRED_FIELDS = ("layers_vector", "Latitude", "Longitude")
ECHOGRAM_FIELDS = ("Data", "echogram")


def _vector(path: Path, name: str, value: Any, width: int) -> np.ndarray:
    vec = numeric(value)
    if vec is None:
        raise UserError(f"{path}: field {name} is not numeric")
    vec = vec.reshape(-1)
    if vec.size != width:
        raise UserError(f"{path}: field {name} has {vec.size} values but layers_vector has {width} columns")
    return vec


def rows_to_twtt(layers: np.ndarray, time_axis: np.ndarray) -> np.ndarray:
    """Two-way travel time below the surface row of fractional pixel rows, read on an echogram ``Time`` axis."""
    rows = np.arange(time_axis.size, dtype=np.float64)
    twtt = np.full(layers.shape, np.nan)
    finite = np.isfinite(layers)
    twtt[finite] = np.interp(layers[finite], rows, time_axis)
    return twtt - twtt[:1]


def from_layers_vector(path: Path, raw: dict[str, Any], kind: str, *, echogram: bool = False) -> Radargram:
    """A Radargram from the variables of a ``layers_vector`` file (a UserError says what is wrong)."""
    notes: list[str] = []
    missing = [name for name in REQUIRED_FIELDS if name not in raw]
    if missing:
        raise UserError(f"{path}: missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    raw = drop_empty(path, raw, notes)
    missing = [name for name in REQUIRED_FIELDS if name not in raw]
    if missing:
        raise UserError(f"{path}: empty field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    layers = numeric(raw["layers_vector"])
    if layers is None or layers.ndim != 2 or layers.size == 0:
        shape = getattr(raw["layers_vector"], "shape", type(raw["layers_vector"]).__name__)
        raise UserError(f"{path}: layers_vector must be a 2-D [layers × columns] array, got shape {shape}")
    n_lat = np.asarray(raw["Latitude"]).size
    if layers.shape[1] != n_lat and layers.shape[0] == n_lat:
        layers = layers.T  # written without MATLAB's transposition: accept it, the columns are unambiguous
    width = layers.shape[1]
    lat = _vector(path, "Latitude", raw["Latitude"], width)
    lon = _vector(path, "Longitude", raw["Longitude"], width)
    lat, lon = clean_coordinates(path, lat, lon, notes)
    if np.isinf(layers).any():
        raise UserError(f"{path}: layers_vector contains infinite values")
    check_pixel_rows(path, "layers_vector", layers)
    elevation = _vector(path, "Elevation", raw["Elevation"], width) if "Elevation" in raw else None
    echo = None
    time_axis = None
    fields: dict[str, np.ndarray] = {}
    for key, value in raw.items():
        if key in REQUIRED_FIELDS or key == "Elevation":
            continue
        if numeric(value) is None:
            continue
        if key in ECHOGRAM_FIELDS:  # kept in its own dtype (uint8 images stay uint8)
            if echogram and value.ndim == 2 and value.size:
                echo = value if value.shape[1] == width else value.T
            continue
        value = numeric(value)
        if key == "Time":
            time_axis = value.reshape(-1)
            continue
        if value.ndim == 2 and value.shape[1] != width and value.shape[0] == width:
            value = value.T
        if value.ndim == 2 and value.shape[1] == width:
            fields[key] = value[0] if value.shape[0] == 1 else value
    twtt = None
    if time_axis is not None and time_axis.size >= 2 and np.all(np.diff(time_axis) > 0):
        twtt = rows_to_twtt(layers, time_axis)
    radargram = Radargram(path, layers, lat, lon, elevation, fields, echo, kind, "layers_vector", twtt=twtt,
                          notes=notes)
    return set_survey_year(radargram, numeric(raw.get("GPS_time")))


# --------------------------------------------------------------------------------------------- writing


def write_radargram(path: str | os.PathLike, variables: dict[str, np.ndarray], fmt: str = "v7.3",
                    compress: bool = True) -> Path:
    """Write MATLAB-shaped arrays (e.g. ``layers_vector`` [L × 256], ``Latitude`` [256 × 1]) atomically.

    ``fmt`` is ``v7.3`` (HDF5 behind the 512-byte MATLAB header, arrays stored transposed, as MATLAB
    does) or ``v5`` (scipy.io.savemat).
    """
    return write_mat(path, variables, fmt, compress)


def radargram_variables(radargram: Radargram) -> dict[str, np.ndarray]:
    """The MATLAB variables of `radargram` in the processed-file layout (inverse of `from_layers_vector`)."""
    out: dict[str, np.ndarray] = {"layers_vector": radargram.layers, "Latitude": radargram.latitude.reshape(-1, 1),
                                  "Longitude": radargram.longitude.reshape(-1, 1)}
    if radargram.elevation is not None:
        out["Elevation"] = radargram.elevation.reshape(-1, 1)
    out.update(radargram.fields)
    if radargram.echogram is not None:
        out["Data"] = radargram.echogram
    return out


__all__ = ["ECHOGRAM_FIELDS", "REQUIRED_FIELDS", "from_layers_vector", "radargram_variables", "rows_to_twtt",
           "write_radargram"]
