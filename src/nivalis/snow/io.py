"""Read and write processed Snow Radar layer files (`.mat`, MATLAB v7.3/HDF5 and v5), one radargram per file.

The CReSIS / Lehigh processed layer set stores, per radargram of 256 traces (columns):

- ``layers_vector`` [L × 256]: pixel row of each tracked layer in each column; row 0 is the (flattened)
  surface, NaN where a layer is not tracked. The thickness of layer i is
  ``layers_vector[i + 1] - layers_vector[i]`` (pixels, ≈ 4 cm of firn each).
- ``Latitude``, ``Longitude`` [256] in degrees; optional ``Elevation`` [256] (m) and physical fields
  [L × 256] (``curr_smb``, ``curr_temp``, ``curr_dens``, ...; row i describes layer i, between rows i
  and i + 1 of ``layers_vector``); optional echogram ``Data`` [rows × 256] (CReSIS name; ``echogram``
  is accepted too).

MATLAB v7.3 files are HDF5 files behind a 512-byte MATLAB header, and MATLAB writes arrays column-major,
so an [L × 256] array appears in HDF5 as (256, L): the reader transposes back. v5 files go through
`scipy.io.loadmat`. A radargram is *usable* for seed 000 when its first ``1 + targets + features`` rows
(surface + 5 + 10 = 16) are tracked in every column; untracked (NaN) deeper rows are allowed.

Why one module of this size: every layout's reader shares the same checks and the folder summary.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nivalis.errors import UserError

#: bytes of the MATLAB header in front of the HDF5 data of a v7.3 file
MAT73_HEADER_BYTES = 512
REQUIRED_FIELDS = ("layers_vector", "Latitude", "Longitude")
ECHOGRAM_FIELDS = ("Data", "echogram")


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


@dataclass
class Radargram:
    """One processed radargram: tracked layer rows, trace positions and optional extras."""

    path: Path
    layers: np.ndarray                      # [L, W] float64 pixel rows, NaN = untracked
    latitude: np.ndarray                    # [W] degrees
    longitude: np.ndarray                   # [W] degrees
    elevation: np.ndarray | None = None     # [W] metres
    fields: dict[str, np.ndarray] = field(default_factory=dict)  # other numeric fields, [L, W] or [W]
    echogram: np.ndarray | None = None      # [rows, W]
    format: str = "v7.3"

    @property
    def name(self) -> str:
        return self.path.stem

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

    def summary(self, rows_needed: int = 16, columns: int | None = 256) -> dict[str, Any]:
        """What `nivalis snow inspect` prints: sizes, usability, mean thickness per layer (pixels)."""
        ok, reason = self.usability(rows_needed, columns)
        with np.errstate(all="ignore"):
            thick = self.thickness()
            tracked = np.isfinite(thick).sum(axis=1)
            mean = np.where(tracked > 0, np.nansum(thick, axis=1) / np.maximum(tracked, 1), np.nan)
        return {
            "file": str(self.path), "format": self.format, "layers": self.n_layers, "columns": self.columns,
            "usable": ok, "reason": reason,
            "thickness_px": [None if not np.isfinite(v) else round(float(v), 4) for v in mean],
            "latitude": [float(np.nanmin(self.latitude)), float(np.nanmax(self.latitude))],
            "longitude": [float(np.nanmin(self.longitude)), float(np.nanmax(self.longitude))],
            "fields": sorted(["Elevation"] if self.elevation is not None else []) + sorted(self.fields),
            "echogram": None if self.echogram is None else list(self.echogram.shape),
        }


# --------------------------------------------------------------------------------------------- reading


def _mat_kind(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(MAT73_HEADER_BYTES + 8)
    if head[MAT73_HEADER_BYTES:MAT73_HEADER_BYTES + 8] == b"\x89HDF\r\n\x1a\n" or head[:8] == b"\x89HDF\r\n\x1a\n":
        return "v7.3"
    if head[:6] == b"MATLAB":
        if b"7.3" in head[:20]:
            return "v7.3"  # an HDF5 body was announced but is not where it must be: truncated or damaged
        return "v5"
    if len(head) == 0:
        raise UserError(f"{path}: empty file, not a MATLAB .mat file")
    raise UserError(f"{path}: not a MATLAB .mat file (no MATLAB or HDF5 signature)")


def _read_v73(path: Path, want_echogram: bool) -> dict[str, np.ndarray]:
    import h5py

    out: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as f:
            for key, item in f.items():
                if not isinstance(item, h5py.Dataset) or key.startswith("#"):
                    continue
                if key in ECHOGRAM_FIELDS and not want_echogram:
                    out[key] = np.empty((0, 0))
                    continue
                value = item[()]
                if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
                    continue
                out[key] = value.T  # MATLAB column-major → the [rows × cols] MATLAB shows
    except Exception as exc:  # h5py raises OSError, KeyError, RuntimeError, ValueError on damaged files
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise UserError(f"{path}: truncated or corrupt MATLAB v7.3 (HDF5) file ({first})") from None
    return out


def _read_v5(path: Path, want_echogram: bool) -> dict[str, np.ndarray]:
    import scipy.io

    try:
        raw = scipy.io.loadmat(path, squeeze_me=False, mat_dtype=False)
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError, zlib.error on damaged files
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise UserError(f"{path}: truncated or corrupt MATLAB v5 file ({first})") from None
    out = {}
    for key, value in raw.items():
        if key.startswith("__") or not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
            continue
        if key in ECHOGRAM_FIELDS and not want_echogram:
            out[key] = np.empty((0, 0))
            continue
        out[key] = value
    return out


def _vector(path: Path, name: str, value: np.ndarray, width: int) -> np.ndarray:
    vec = np.asarray(value, dtype=np.float64).reshape(-1)
    if vec.size != width:
        raise UserError(f"{path}: field {name} has {vec.size} values but layers_vector has {width} columns")
    return vec


def load_radargram(path: str | os.PathLike, *, echogram: bool = False) -> Radargram:
    """Read one processed radargram `.mat` (v7.3 or v5); a damaged or incomplete file is a UserError.

    The echogram image, when the file has one, is read only with ``echogram=True`` (it is large).
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"file not found: {path}")
    if not path.is_file():
        raise UserError(f"{path}: not a file")
    kind = _mat_kind(path)
    raw = _read_v73(path, echogram) if kind == "v7.3" else _read_v5(path, echogram)
    missing = [name for name in REQUIRED_FIELDS if name not in raw]
    if missing:
        raise UserError(f"{path}: missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    layers = np.asarray(raw["layers_vector"], dtype=np.float64)
    if layers.ndim != 2 or layers.size == 0:
        raise UserError(f"{path}: layers_vector must be a 2-D [layers × columns] array, got shape {layers.shape}")
    n_lat = np.asarray(raw["Latitude"]).size
    if layers.shape[1] != n_lat and layers.shape[0] == n_lat:
        layers = layers.T  # written without MATLAB's transposition: accept it, the columns are unambiguous
    width = layers.shape[1]
    lat = _vector(path, "Latitude", raw["Latitude"], width)
    lon = _vector(path, "Longitude", raw["Longitude"], width)
    if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
        raise UserError(f"{path}: Latitude/Longitude contain NaN or infinite values")
    if np.abs(lat).max() > 90 or np.abs(lon).max() > 360:
        raise UserError(f"{path}: Latitude/Longitude out of range (are they in degrees?)")
    if np.isinf(layers).any():
        raise UserError(f"{path}: layers_vector contains infinite values")
    elevation = None
    if "Elevation" in raw:
        elevation = _vector(path, "Elevation", raw["Elevation"], width)
    echo = None
    fields: dict[str, np.ndarray] = {}
    for key, value in raw.items():
        if key in REQUIRED_FIELDS or key == "Elevation":
            continue
        if key in ECHOGRAM_FIELDS:
            if echogram and value.ndim == 2 and value.size:
                echo = value if value.shape[1] == width else value.T
            continue
        value = np.asarray(value, dtype=np.float64)
        if value.ndim == 2 and value.shape[1] != width and value.shape[0] == width:
            value = value.T
        if value.ndim == 2 and value.shape[1] == width:
            fields[key] = value[0] if value.shape[0] == 1 else value
    return Radargram(path, layers, lat, lon, elevation, fields, echo, kind)


@dataclass
class FolderSummary:
    """What loading a folder found: every `.mat`, the readable ones, and why others were skipped."""

    files: int
    readable: int
    usable: int
    bad: dict[str, str]                 # file → error message (unreadable)
    unusable: dict[str, str]            # file → reason (readable but not usable)
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        reasons = Counter(_reason_kind(r) for r in self.unusable.values())
        return {"files": self.files, "readable": self.readable, "usable": self.usable, "bad": len(self.bad),
                "unusable": len(self.unusable), "unusable_reasons": dict(reasons),
                "bad_files": {Path(k).name: v for k, v in list(self.bad.items())[:20]},
                "load_seconds": round(self.seconds, 3)}


def _reason_kind(reason: str) -> str:
    if reason.startswith("only"):
        return "too few layers"
    if "untracked" in reason:
        return "untracked (NaN) in the needed rows"
    if "cross" in reason:
        return "crossing layers"
    return "wrong width"


def mat_files(folder: str | os.PathLike) -> list[Path]:
    """Every `.mat` under `folder` (recursively), sorted; a missing or empty folder is a UserError."""
    folder = Path(folder)
    if not folder.exists():
        raise UserError(f"data folder not found: {folder}")
    if folder.is_file():
        return [folder]
    files = sorted(p for p in folder.rglob("*.mat") if p.is_file())
    if not files:
        raise UserError(f"no .mat files in {folder}")
    return files


def load_radargram_folder(folder: str | os.PathLike, *, rows_needed: int = 16, columns: int | None = 256,
                          echogram: bool = False, desc: str = "read radargrams"
                          ) -> tuple[list[Radargram], FolderSummary]:
    """Read every `.mat` in `folder`; return the usable radargrams and a summary (bad files are skipped)."""
    from nivalis.progress import progress

    t0 = time.perf_counter()
    files = mat_files(folder)
    good: list[Radargram] = []
    bad: dict[str, str] = {}
    unusable: dict[str, str] = {}
    readable = 0
    for path in progress(files, total=len(files), desc=desc):
        try:
            radargram = load_radargram(path, echogram=echogram)
        except UserError as exc:
            bad[str(path)] = str(exc)
            continue
        readable += 1
        ok, reason = radargram.usability(rows_needed, columns)
        if ok:
            good.append(radargram)
        else:
            unusable[str(path)] = reason
    summary = FolderSummary(len(files), readable, len(good), bad, unusable, time.perf_counter() - t0)
    return good, summary


# --------------------------------------------------------------------------------------------- writing


def _mat73_header() -> bytes:
    text = (f"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: "
            f"{time.strftime('%a %b %d %H:%M:%S %Y', time.gmtime(0))} HDF5 schema 1.00 .").encode("ascii")
    header = text.ljust(116, b" ") + b" " * 8 + (0x0200).to_bytes(2, "little") + b"IM"
    return header.ljust(MAT73_HEADER_BYTES, b"\x00")


def _matlab_class(dtype: np.dtype) -> str:
    if dtype.kind == "f":
        return "single" if dtype.itemsize == 4 else "double"
    if dtype.kind in "ui":
        return f"{'u' if dtype.kind == 'u' else ''}int{8 * dtype.itemsize}"
    return "logical" if dtype.kind == "b" else "double"


def write_radargram(path: str | os.PathLike, variables: dict[str, np.ndarray], fmt: str = "v7.3",
                    compress: bool = True) -> Path:
    """Write MATLAB-shaped arrays (e.g. ``layers_vector`` [L × 256], ``Latitude`` [256 × 1]) atomically.

    ``fmt`` is ``v7.3`` (HDF5 behind the 512-byte MATLAB header, arrays stored transposed, as MATLAB
    does) or ``v5`` (scipy.io.savemat).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.mat")
    try:
        if fmt == "v5":
            import scipy.io

            scipy.io.savemat(tmp, variables, do_compression=compress, oned_as="column")
        elif fmt in ("v7.3", "v73"):
            import h5py

            with h5py.File(tmp, "w", userblock_size=MAT73_HEADER_BYTES, libver="earliest") as f:
                for key, value in variables.items():
                    value = np.asarray(value)
                    if value.ndim == 1:
                        value = value.reshape(-1, 1)
                    kwargs = {"compression": "gzip", "compression_opts": 4} if compress and value.size > 4096 else {}
                    ds = f.create_dataset(key, data=value.T, **kwargs)
                    ds.attrs["MATLAB_class"] = np.bytes_(_matlab_class(value.dtype))
            with tmp.open("r+b") as f:
                f.write(_mat73_header())
        else:
            raise UserError(f"unknown MAT format {fmt!r} (v7.3, v5)")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def radargram_variables(radargram: Radargram) -> dict[str, np.ndarray]:
    """The MATLAB variables of `radargram` in the processed-file layout (inverse of `load_radargram`)."""
    out: dict[str, np.ndarray] = {"layers_vector": radargram.layers, "Latitude": radargram.latitude.reshape(-1, 1),
                                  "Longitude": radargram.longitude.reshape(-1, 1)}
    if radargram.elevation is not None:
        out["Elevation"] = radargram.elevation.reshape(-1, 1)
    out.update(radargram.fields)
    if radargram.echogram is not None:
        out["Data"] = radargram.echogram
    return out


__all__ = ["FolderSummary", "Radargram", "layers_usability", "load_radargram", "load_radargram_folder", "mat_files",
           "radargram_variables", "write_radargram"]
