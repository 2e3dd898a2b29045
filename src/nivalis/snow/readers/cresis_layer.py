"""CReSIS layer products: ``CSARP_layer`` files and older ``layerData`` structs, with or without their echogram frame.

- ``CSARP_layer``: ``gps_time`` [1 × Nx], ``lat``, ``lon`` [1 × Nx] (degrees), optional ``elev``, ``twtt``
  [L × Nx] two-way travel time (s) of each layer, NaN where not picked, ``id`` [1 × L].
- ``layerData`` (older): ``GPS_time``, ``Latitude``, ``Longitude``, ``Elevation`` [1 × Nx] and a cell array
  ``layerData{k}`` of structs whose ``value{2}.data`` [1 × Nx] is layer k's travel time (``value{1}`` holds
  manual picks only). v5 files are read through scipy (``struct_as_record=False``), v7.3 by following the
  HDF5 object references of the cells.
- with the echogram frame of the same frame id ``YYYYMMDD_SS_FFF`` (`nivalis.snow.readers.cresis_frame`):
  it gives the positions when the layer file has none, the pixel rows (travel time read on its ``Time``
  axis) and the echogram image.

Layers are ordered by median travel time; the shallowest is the surface (row 0), unless the frame's
``Surface`` lies more than two range bins above it, in which case ``Surface`` becomes row 0. Travel time
below the surface becomes depth through `nivalis.snow.units`. Without a frame, pixel rows are depth /
``pixel_m``. A frame of Nx traces is cut into ``Nx // columns`` consecutive radargrams of ``columns``
traces (named ``FRAME_tSTART``); the ``Nx % columns`` traces left over are reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nivalis.errors import UserError
from nivalis.snow.readers.cresis_frame import read_frame
from nivalis.snow.readers.matfile import numeric, read_mat
from nivalis.snow.readers.radargram import (
    Radargram,
    ReadOptions,
    clean_coordinates,
    drop_empty,
    layout_of,
    set_survey_year,
)
from nivalis.snow.units import depth_from_twtt


def _vec(value: Any) -> np.ndarray | None:
    arr = numeric(value)
    return None if arr is None or arr.size == 0 else arr.reshape(-1)


def _records(value: Any) -> list[Any]:
    """A MATLAB cell or struct array as a list of elements (a struct array read from v7.3 is a dict of lists)."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        lengths = {len(v) for v in value.values()}
        if len(lengths) == 1:
            return [dict(zip(value, items)) for items in zip(*value.values())]
    return [value]


def _layerdata_twtt(path: Path, raw: dict[str, Any], notes: list[str]) -> np.ndarray:
    rows = []
    for k, layer in enumerate(_records(raw["layerData"])):
        if not isinstance(layer, dict) or "value" not in layer:
            raise UserError(f"{path}: layerData{{{k + 1}}} has no value field")
        values = _records(layer["value"])
        if len(values) < 2:
            notes.append(f"layerData{{{k + 1}}} has one value, used instead of value{{2}}")
        chosen = values[1] if len(values) >= 2 else values[0]
        data = _vec(chosen.get("data")) if isinstance(chosen, dict) else None
        if data is None:
            raise UserError(f"{path}: layerData{{{k + 1}}}.value{{2}}.data is missing or not numeric")
        rows.append(data)
    if not rows or len({r.size for r in rows}) != 1:
        raise UserError(f"{path}: layerData layers have different numbers of traces")
    return np.stack(rows)


def _picks(path: Path, raw: dict[str, Any], layout: str, notes: list[str]) -> dict[str, Any]:
    if layout == "CSARP_layer":
        out = {"lat": _vec(raw.get("lat")), "lon": _vec(raw.get("lon")), "gps": _vec(raw.get("gps_time")),
               "elev": _vec(raw.get("elev"))}
        twtt = numeric(raw["twtt"])
        if twtt is None:
            raise UserError(f"{path}: twtt is not numeric")
        twtt = np.atleast_2d(twtt)
    else:
        out = {"lat": _vec(raw.get("Latitude")), "lon": _vec(raw.get("Longitude")), "gps": _vec(raw.get("GPS_time")),
               "elev": _vec(raw.get("Elevation"))}
        twtt = _layerdata_twtt(path, raw, notes)
    width = next((v.size for v in (out["gps"], out["lat"]) if v is not None), None)
    if width is not None and twtt.shape[1] != width and twtt.shape[0] == width:
        twtt = twtt.T
    out["twtt"] = twtt
    return out


def _check_twtt(path: Path, twtt: np.ndarray) -> None:
    finite = twtt[np.isfinite(twtt)]
    if finite.size == 0:
        raise UserError(f"{path}: no picked layer (every twtt is NaN)")
    if np.abs(finite).max() >= 1e-3:
        raise UserError(f"{path}: twtt up to {finite.max():.4g}: expected two-way travel time in seconds "
                        "(microseconds or pixel rows?)")


def cresis_radargrams(layer_path: Path, frame_path: Path | None, options: ReadOptions,
                      raw: dict[str, Any] | None = None, kind: str | None = None) -> tuple[list[Radargram], int]:
    """(radargrams of `options.columns` traces, traces left over) of a CReSIS layer file and its optional frame."""
    notes: list[str] = []
    if raw is None:
        raw, kind = read_mat(layer_path)
    raw = drop_empty(layer_path, raw, notes)
    names = set(raw)
    layout = layout_of(names)
    if layout not in ("CSARP_layer", "layerData"):
        raise UserError(f"{layer_path}: not a CReSIS layer file (no twtt or layerData)")
    picks = _picks(layer_path, raw, layout, notes)
    twtt = picks["twtt"]
    frame: dict[str, Any] = {}
    if frame_path is not None:
        frame = drop_empty(frame_path, read_frame(frame_path, options.echogram), notes)
        notes.append(f"echogram frame {frame_path.name}")
    fgps = _vec(frame.get("GPS_time"))
    width = twtt.shape[1]
    if fgps is not None and picks["gps"] is not None and fgps.size != width:  # layer picks on the frame's traces
        order = np.argsort(picks["gps"])
        twtt = np.stack([np.interp(fgps, picks["gps"][order], row[order], left=np.nan, right=np.nan)
                         for row in twtt])
        picks["lat"] = picks["lon"] = picks["elev"] = None
        picks["gps"] = fgps
        width = fgps.size
    lat = picks["lat"] if picks["lat"] is not None else _vec(frame.get("Latitude"))
    lon = picks["lon"] if picks["lon"] is not None else _vec(frame.get("Longitude"))
    if lat is None or lon is None:
        raise UserError(f"{layer_path}: no positions (lat/lon, Latitude/Longitude) in the layer file"
                        + ("" if frame_path else " and no echogram frame with the same frame id beside it"))
    if lat.size != width or lon.size != width:
        raise UserError(f"{layer_path}: {lat.size} positions for {width} traces of twtt")
    lat, lon = clean_coordinates(layer_path, lat, lon, notes)
    elev = picks["elev"] if picks["elev"] is not None else _vec(frame.get("Elevation"))
    elev = elev if elev is not None and elev.size == width else None
    _check_twtt(layer_path, twtt)
    tracked = np.isfinite(twtt).any(axis=1)
    if not tracked.all():
        notes.append(f"{int((~tracked).sum())} layer(s) with no pick dropped")
    twtt = twtt[tracked]
    twtt = twtt[np.argsort(np.nanmedian(twtt, axis=1), kind="stable")]
    time_axis = _vec(frame.get("Time"))
    if time_axis is not None and not (time_axis.size >= 2 and np.all(np.diff(time_axis) > 0)):
        time_axis = None
    surface = _vec(frame.get("Surface"))
    if surface is not None and surface.size == width and np.isfinite(surface).all():
        two_bins = 2 * float(np.median(np.diff(time_axis))) if time_axis is not None else 2e-9
        if float(np.nanmedian(twtt[0])) - float(np.median(surface)) > two_bins:  # the picks start below it
            twtt = np.vstack([surface[None], twtt])
            notes.append("the frame's Surface is row 0 (no surface layer among the picks)")
    rel = twtt - twtt[:1]
    if time_axis is not None:
        rows = np.full(twtt.shape, np.nan)
        finite = np.isfinite(twtt)
        rows[finite] = np.interp(twtt[finite], time_axis, np.arange(time_axis.size, dtype=np.float64))
    else:
        rows = depth_from_twtt(rel, options.firn) / options.firn.pixel_m
        notes.append(f"no echogram Time axis: pixel rows = depth / {options.firn.pixel_m:g} m")
    cols = options.columns
    count, left = divmod(width, cols)
    if count == 0:
        raise UserError(f"{layer_path}: {width} traces, fewer than the {cols} of one radargram (--columns)")
    if left:
        notes.append(f"{width} traces: {count} radargram(s) of {cols}, last {left} traces left over")
    data = numeric(frame.get("Data")) if options.echogram else None
    if data is not None and data.ndim == 2 and data.shape[1] != width and data.shape[0] == width:
        data = data.T
    gps = picks["gps"] if picks["gps"] is not None else fgps
    out = []
    for k in range(count):
        sl = slice(k * cols, (k + 1) * cols)
        name = layer_path.stem if count == 1 and not left else f"{layer_path.stem}_t{k * cols:05d}"
        echo = data[:, sl] if data is not None and data.ndim == 2 and data.shape[1] == width else None
        radargram = Radargram(layer_path, rows[:, sl], lat[sl], lon[sl], None if elev is None else elev[sl], {},
                              echo, kind or "v5", layout, name_override=name, twtt=rel[:, sl], notes=list(notes))
        out.append(set_survey_year(radargram, None if gps is None or gps.size != width else gps[sl]))
    return out, left


__all__ = ["cresis_radargrams"]
