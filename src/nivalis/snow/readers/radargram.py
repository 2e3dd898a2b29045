"""One radargram of any layout (layer rows, positions, units), the layout a file's variables say, the shared checks.

Convention checks report in the radargram's ``notes`` (one line each; the CLI prints them on stderr) or
raise a UserError when the data cannot be used as it is:

- longitudes in 0–360 are normalised to −180..180 (note); latitudes beyond ±90 are an error;
- a few NaN coordinates (at most `MAX_NAN_COORDINATE_FRACTION` of the traces) are interpolated along
  the trace index (note); more are an error;
- MATLAB-empty fields (``Elevation = []``) are ignored (note);
- layer rows that look like two-way travel time in seconds (every value below 1e-3) or depth in metres
  (at most 100, mostly fractional, median layer spacing under 2) where pixel rows are expected are an error.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nivalis.errors import UserError
from nivalis.snow.units import FirnModel, layer_units

MAX_NAN_COORDINATE_FRACTION = 0.02
_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?!\d)")


@dataclass
class ReadOptions:
    """What the readers need beyond the files: radargram width, units, and which field holds positions."""

    columns: int = 256                  # seed 000 §III: 256 traces per radargram (CReSIS frames are cut)
    latlon_field: str | None = None     # seed release: the field with the 256×2 latitude/longitude matrix
    firn: FirnModel = field(default_factory=FirnModel)
    echogram: bool = False              # load echogram images (large)


def layout_of(names: set[str]) -> str | None:
    """The layout a `.mat` file's variable names say: layers_vector, CSARP_layer, layerData, frame or None."""
    if "layers_vector" in names:
        return "layers_vector"
    if "twtt" in names:
        return "CSARP_layer"
    if "layerData" in names:
        return "layerData"
    if "Data" in names and "Time" in names:
        return "frame"
    return None


def layers_usability(layers: np.ndarray, rows_needed: int = 16, columns: int | None = 256) -> tuple[bool, str]:
    """(usable, reason) of a ``layers_vector``: its first `rows_needed` rows tracked in every column.

    Seed 000 §III keeps radargrams with at least 16 layer rows (surface + 5 targets + 10 features);
    untracked (NaN) rows deeper than that do not matter.
    """
    width = layers.shape[1]
    if columns is not None and width != columns:
        return False, f"{width} columns, expected {columns}"
    if layers.shape[0] < rows_needed:
        return False, f"only {layers.shape[0]} layer rows, needs {rows_needed}"
    with np.errstate(invalid="ignore"):
        above = (layers < 0).any(axis=1)
    if above.any():
        row = int(np.argmax(above))
        with np.errstate(invalid="ignore"):
            count = int((layers[row] < 0).sum())
        return False, f"row {row} has negative pixel rows (above the image) in {count} of {width} columns"
    top = layers[:rows_needed]
    missing = ~np.isfinite(top)
    if missing.any():
        row = int(np.argmax(missing.any(axis=1)))
        return False, f"row {row} untracked in {int(missing[row].sum())} of {width} columns"
    crossing = (np.diff(top, axis=0) < 0).any(axis=1)
    if crossing.any():
        row = int(np.argmax(crossing))
        return False, f"rows {row} and {row + 1} cross (negative thickness)"
    return True, "usable"


def largest_step(layers: np.ndarray) -> tuple[float, int, int]:
    """(step, layer, column) of the largest row change of one layer between adjacent columns c and c + 1 where both
    are tracked; (0, 0, 0) when there is none."""
    with np.errstate(invalid="ignore"):
        steps = np.abs(np.diff(np.asarray(layers, dtype=np.float64), axis=1))
    steps = np.where(np.isfinite(steps), steps, -1.0)
    if steps.size == 0 or steps.max() < 0:
        return 0.0, 0, 0
    layer, col = np.unravel_index(int(np.argmax(steps)), steps.shape)
    return float(steps[layer, col]), int(layer), int(col)


def _mean_rows(values: np.ndarray, digits: int) -> list[float | None]:
    with np.errstate(all="ignore"):
        tracked = np.isfinite(values).sum(axis=1)
        mean = np.where(tracked > 0, np.nansum(values, axis=1) / np.maximum(tracked, 1), np.nan)
    return [None if not np.isfinite(v) else round(float(v), digits) for v in mean]


@dataclass
class Radargram:
    """One radargram: tracked layer rows, trace positions, optional extras, and how it was read."""

    path: Path
    layers: np.ndarray                      # [L, W] float64 pixel rows, row 0 = surface, NaN = untracked
    latitude: np.ndarray                    # [W] degrees
    longitude: np.ndarray                   # [W] degrees, −180..180
    elevation: np.ndarray | None = None     # [W] metres
    fields: dict[str, np.ndarray] = field(default_factory=dict)  # other numeric fields, [L, W] or [W]
    echogram: np.ndarray | None = None      # [rows, W]
    format: str = "v7.3"
    layout: str = "layers_vector"           # layers_vector | seed_release | CSARP_layer | layerData
    name_override: str | None = None        # e.g. FRAME_t00256 for a 256-trace cut of a wider frame
    twtt: np.ndarray | None = None          # [L, W] two-way travel time below the surface (s), when known
    survey_year: int | None = None          # from the file name date or its GPS time
    survey_year_source: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.name_override or self.path.stem

    @property
    def columns(self) -> int:
        return int(self.layers.shape[1])

    @property
    def n_layers(self) -> int:
        return int(self.layers.shape[0])

    def thickness(self) -> np.ndarray:
        """[L - 1, W] thickness of each layer in pixels, top-down (row i+1 minus row i)."""
        return np.diff(self.layers, axis=0)

    def usability(self, rows_needed: int = 16, columns: int | None = 256) -> tuple[bool, str]:
        """(usable, reason): the first `rows_needed` rows tracked everywhere, layers in depth order."""
        return layers_usability(self.layers, rows_needed, columns)

    def summary(self, rows_needed: int = 16, columns: int | None = 256, firn: FirnModel | None = None
                ) -> dict[str, Any]:
        """What `nivalis snow inspect` prints: sizes, usability, mean thickness per layer in px, m and m w.e."""
        ok, reason = self.usability(rows_needed, columns)
        units = layer_units(self.layers, firn or FirnModel(), twtt=self.twtt,
                            layer_density=self.fields.get("curr_dens"))
        return {
            "file": str(self.path), "name": self.name, "layout": self.layout, "format": self.format,
            "layers": self.n_layers, "columns": self.columns, "usable": ok, "reason": reason,
            "max_step_px": round(largest_step(self.layers)[0], 4),
            "thickness_px": _mean_rows(units.thickness_px, 4),
            "thickness_m": _mean_rows(units.thickness_m, 6),
            "thickness_mwe": _mean_rows(units.thickness_mwe, 6),
            "depth_from": units.depth_source, "density": units.density_source, "pixel_m": units.pixel_m,
            "survey_year": self.survey_year, "survey_year_from": self.survey_year_source,
            "latitude": [float(np.nanmin(self.latitude)), float(np.nanmax(self.latitude))],
            "longitude": [float(np.nanmin(self.longitude)), float(np.nanmax(self.longitude))],
            "fields": sorted(["Elevation"] if self.elevation is not None else []) + sorted(self.fields),
            "echogram": None if self.echogram is None else list(self.echogram.shape),
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------------------------- shared checks


def clean_coordinates(path: Path, lat: np.ndarray, lon: np.ndarray, notes: list[str]
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Checked (latitude, longitude): a few NaN interpolated, 0–360 longitudes normalised, each said in `notes`."""
    lat, lon = np.asarray(lat, dtype=np.float64).copy(), np.asarray(lon, dtype=np.float64).copy()
    if np.isinf(lat).any() or np.isinf(lon).any():
        raise UserError(f"{path}: Latitude/Longitude contain infinite values")
    for name, vec in (("Latitude", lat), ("Longitude", lon)):
        bad = ~np.isfinite(vec)
        if not bad.any():
            continue
        if bad.sum() > max(1, int(MAX_NAN_COORDINATE_FRACTION * vec.size)) or (~bad).sum() < 2:
            raise UserError(f"{path}: {name} has {int(bad.sum())} NaN of {vec.size} values (too many to interpolate)")
        idx = np.arange(vec.size)
        vec[bad] = np.interp(idx[bad], idx[~bad], vec[~bad])
        where = ", ".join(str(i) for i in idx[bad][:5])
        notes.append(f"{name}: {int(bad.sum())} NaN value(s) at trace {where} interpolated from the neighbours")
    if np.abs(lat).max() > 90:
        raise UserError(f"{path}: Latitude out of range ±90 (max |lat| {np.abs(lat).max():.4g}; are they in degrees?)")
    if lon.min() < -180 or lon.max() > 360:
        raise UserError(f"{path}: Longitude out of range −180..360 (are they in degrees?)")
    if lon.max() > 180:
        lon = np.where(lon > 180, lon - 360.0, lon)
        notes.append("Longitude: values in 0–360 normalised to −180..180")
    return lat, lon


def check_pixel_rows(path: Path, name: str, layers: np.ndarray) -> None:
    """A UserError when layer rows look like travel time in seconds or depth in metres instead of pixels."""
    finite = layers[np.isfinite(layers)]
    if finite.size == 0:
        return
    if 0 < np.abs(finite).max() < 1e-3:
        raise UserError(f"{path}: {name} looks like two-way travel time in seconds (max {finite.max():.3g}), not "
                        "pixel rows; give the CReSIS layer file (twtt) instead, it is converted to depth")
    with np.errstate(invalid="ignore"):
        spacing = np.diff(layers, axis=0)
    spacing = spacing[np.isfinite(spacing) & (spacing > 0)]
    fractional = np.mean(np.abs(finite - np.round(finite)) > 1e-6)
    if (0 < finite.max() <= 100 and fractional > 0.5 and spacing.size and np.median(spacing) < 2.0):
        raise UserError(f"{path}: {name} looks like depth in metres (max {finite.max():.3g}, median layer spacing "
                        f"{np.median(spacing):.3g}), not pixel rows; divide by the pixel size (e.g. 0.04 m)")


def drop_empty(path: Path, raw: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """`raw` without MATLAB-empty numeric fields, each said in `notes` (``Elevation = []`` is no rejection)."""
    out = {}
    for key, value in raw.items():
        if isinstance(value, np.ndarray) and value.size == 0:
            notes.append(f"{key}: empty MATLAB field ignored")
            continue
        out[key] = value
    return out


def year_from_name(path: Path) -> int | None:
    """The year of a ``YYYYMMDD`` date in the file name (CReSIS ``Data_20120330_01_001``, ``20120315_01_001``)."""
    match = _DATE.search(path.name)
    return int(match.group(1)) if match else None


def year_from_gps(gps_time: np.ndarray | None) -> int | None:
    """The year of CReSIS GPS time (seconds since 1970-01-01), when plausible (1990–2100)."""
    if gps_time is None:
        return None
    finite = np.asarray(gps_time, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return None
    seconds = float(np.median(finite))
    if not 631_152_000 <= seconds <= 4_102_444_800:  # 1990-01-01 .. 2100-01-01
        return None
    return _dt.datetime.fromtimestamp(seconds, tz=_dt.UTC).year


def set_survey_year(radargram: Radargram, gps_time: np.ndarray | None = None) -> Radargram:
    """The radargram's survey year from its file name date, else its GPS time (no default here: callers decide)."""
    year = year_from_name(radargram.path)
    if year is not None:
        radargram.survey_year, radargram.survey_year_source = year, "file name date"
        return radargram
    year = year_from_gps(gps_time)
    if year is not None:
        radargram.survey_year, radargram.survey_year_source = year, "GPS time"
    return radargram


__all__ = ["Radargram", "ReadOptions", "check_pixel_rows", "clean_coordinates", "drop_empty", "largest_step",
           "layers_usability", "layout_of", "set_survey_year", "year_from_gps", "year_from_name"]
