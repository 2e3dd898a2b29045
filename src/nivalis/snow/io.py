"""Read Snow Radar layers in any supported layout through one entry point, and write the processed `.mat` layout.

Layouts (each radargram says which one it came from in ``Radargram.layout``; a folder summary in ``layout``):

- ``layers_vector``: the processed CReSIS / Lehigh set, one `.mat` per radargram (`nivalis.snow.layers_vector`);
- ``seed_release``: seed 000's release, a folder with ``image/NAME.mat`` and ``layer_bin/NAME.png`` label
  images traced into layer rows (`nivalis.snow.seed_release`);
- ``CSARP_layer`` / ``layerData``: CReSIS layer files in two-way travel time, with or without the echogram
  frame of the same frame id, cut into radargrams of ``columns`` traces (`nivalis.snow.cresis`).

MATLAB v5 and v7.3 files are read by `nivalis.snow.matfile`. A file's layout is told by its variables
(``layers_vector``, ``twtt``, ``layerData``; an echogram frame has ``Data`` and ``Time``), a folder's by its
``image/`` + ``layer_bin/`` sub-folders. Convention fixes and warnings are one-line ``notes`` per
radargram (collected per file in the folder summary); what cannot be used is a UserError. A radargram is
*usable* for seed 000 when its first ``1 + targets + features`` rows (surface + 5 + 10 = 16) are tracked
in every column.
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
from nivalis.snow.cresis import cresis_radargrams, find_frame, frame_id, layout_of
from nivalis.snow.layers_vector import ECHOGRAM_FIELDS, from_layers_vector
from nivalis.snow.matfile import MAT73_HEADER_BYTES, mat_variable_names, read_mat, write_mat
from nivalis.snow.radargram import (
    DEFAULT_SURVEY_YEAR,
    Radargram,
    ReadOptions,
    layers_usability,
    year_from_name,
)
from nivalis.snow.seed_release import LABEL_SUFFIXES, is_seed_release, read_seed_pair, seed_release_pairs


def _label_for(path: Path) -> tuple[Path, Path] | None:
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


def _read_file(path: Path, options: ReadOptions, frames: dict[str, Path] | None = None
               ) -> tuple[list[Radargram], int]:
    """(radargrams, traces left over) of one file of any layout."""
    pair = _label_for(path)
    if pair is not None:
        return [read_seed_pair(*pair, options)], 0
    raw, kind = read_mat(path, skip=() if options.echogram else ECHOGRAM_FIELDS)
    skipped = {"Data"} if "Time" in raw and not options.echogram else set()  # a frame's Data was not loaded
    layout = layout_of(set(raw) | skipped)
    if layout in ("CSARP_layer", "layerData"):
        if frames is None:
            frame = find_frame(path)
        else:
            fid = frame_id(path)
            frame = frames.get(fid) if fid else None
        return cresis_radargrams(path, frame, options, raw, kind)
    if layout == "frame" and "layers_vector" not in raw:
        raise UserError(f"{path}: an echogram frame without layer picks; give the CSARP_layer or layerData file "
                        "of the same frame id (the frame is read with it)")
    return [from_layers_vector(path, raw, kind, echogram=options.echogram)], 0


def _checked_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise UserError(f"file not found: {path}")
    if not path.is_file():
        raise UserError(f"{path}: not a file")
    return path


def read_radargram_file(path: str | os.PathLike, options: ReadOptions | None = None) -> tuple[list[Radargram], int]:
    """(every radargram of one file, traces left over): a CReSIS frame wider than ``columns`` gives several."""
    return _read_file(_checked_path(path), options or ReadOptions())


def load_radargrams(path: str | os.PathLike, *, echogram: bool = False, options: ReadOptions | None = None
                    ) -> list[Radargram]:
    """Every radargram of one file (a CReSIS frame wider than ``columns`` traces gives several)."""
    return read_radargram_file(path, _options(options, echogram))[0]


def load_radargram(path: str | os.PathLike, *, echogram: bool = False, options: ReadOptions | None = None
                   ) -> Radargram:
    """Read one radargram file of any layout; a damaged or incomplete file is a UserError.

    The echogram image, when the file has one, is read only with ``echogram=True`` (it is large). A file
    that holds several radargrams (a wide CReSIS frame) is a UserError: use `load_radargrams`.
    """
    radargrams = load_radargrams(path, echogram=echogram, options=options)
    if len(radargrams) != 1:
        raise UserError(f"{path}: holds {len(radargrams)} radargrams of {radargrams[0].columns} traces; "
                        "read it as a folder or with load_radargrams")
    return radargrams[0]


def _options(options: ReadOptions | None, echogram: bool) -> ReadOptions:
    options = options or ReadOptions()
    if echogram and not options.echogram:
        options = ReadOptions(options.columns, options.latlon_field, options.firn, True)
    return options


@dataclass
class FolderSummary:
    """What loading a folder found: every input file, the radargrams read, and why others were skipped."""

    files: int
    readable: int
    usable: int
    bad: dict[str, str]                 # file → error message (unreadable)
    unusable: dict[str, str]            # radargram → reason (readable but not usable)
    seconds: float
    layout: str = "layers_vector"       # the layout read, or "mixed (a, b)"
    radargrams: int = 0                 # radargrams read (a wide CReSIS frame gives several)
    leftover: dict[str, int] = field(default_factory=dict)      # file → traces left over after the cut
    notes: dict[str, list[str]] = field(default_factory=dict)   # file → convention notes
    survey_years: dict[int, int] = field(default_factory=dict)  # year → radargrams dated so
    frames: int = 0                     # echogram frames read with their layer files

    def to_dict(self) -> dict[str, Any]:
        reasons = Counter(_reason_kind(r) for r in self.unusable.values())
        return {"files": self.files, "layout": self.layout, "radargrams": self.radargrams,
                "readable": self.readable, "usable": self.usable, "bad": len(self.bad),
                "unusable": len(self.unusable), "unusable_reasons": dict(reasons),
                "bad_files": {Path(k).name: v for k, v in list(self.bad.items())[:20]},
                "echogram_frames": self.frames, "leftover_traces": dict(self.leftover),
                "survey_years": {str(k): v for k, v in sorted(self.survey_years.items())},
                "notes": {k: v for k, v in list(self.notes.items())[:50]},
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


def _plan(folder: Path) -> tuple[list[Path], dict[str, Path] | None, dict[str, str]]:
    """(files to read, echogram frames by frame id, {file: why it is skipped}) of a folder of `.mat` files.

    For a single file, frames are None: its frame is looked for beside it (`find_frame`).
    """
    files = mat_files(folder)
    if folder.is_file():
        return files, None, {}
    frames: dict[str, Path] = {}
    primary, bad = [], {}
    for path in files:
        try:
            kind = layout_of(mat_variable_names(path))
        except UserError:
            kind = None  # read below, where the error is recorded
        fid = frame_id(path)
        if kind == "frame" and fid is not None:
            frames.setdefault(fid, path)
        elif kind == "frame":
            bad[str(path)] = f"{path}: an echogram frame without a frame id YYYYMMDD_SS_FFF to pair it with"
        else:
            primary.append(path)
    layer_ids = {frame_id(p) for p in primary}
    for fid, path in frames.items():
        if fid not in layer_ids:
            bad[str(path)] = f"{path}: an echogram frame without a CSARP_layer/layerData file of frame id {fid}"
    return primary, frames, bad


def load_radargram_folder(folder: str | os.PathLike, *, rows_needed: int = 16, columns: int | None = 256,
                          echogram: bool = False, desc: str = "read radargrams", options: ReadOptions | None = None,
                          include_unusable: bool = False) -> tuple[list[Radargram], FolderSummary]:
    """Read every radargram under `folder` (any layout); return the usable ones (every readable one with
    `include_unusable`) and a summary: bad files are skipped and counted, wide frames cut, notes collected."""
    from nivalis.progress import progress

    t0 = time.perf_counter()
    folder = Path(folder)
    options = _options(options, echogram)
    if columns is not None and columns != options.columns:
        options = ReadOptions(columns, options.latlon_field, options.firn, options.echogram)
    if is_seed_release(folder):
        pairs, bad = seed_release_pairs(folder)
        items: list[Path] = [image for image, _ in pairs]
        frames: dict[str, Path] | None = {}
        n_files = len(pairs) + len(bad)
    else:
        items, frames, bad = _plan(folder)
        n_files = len(items) + len(frames or {})
    kept: list[Radargram] = []
    unusable: dict[str, str] = {}
    readable = usable = read = 0
    leftover: dict[str, int] = {}
    notes: dict[str, list[str]] = {}
    layouts: Counter[str] = Counter()
    years: Counter[int] = Counter()
    used_frames = set()
    for path in progress(items, total=len(items), desc=desc):
        try:
            radargrams, left = _read_file(path, options, frames)
        except UserError as exc:
            bad[str(path)] = str(exc)
            continue
        readable += 1
        if left:
            leftover[path.name] = left
        fid = frame_id(path)
        if frames and fid in frames and radargrams[0].layout in ("CSARP_layer", "layerData"):
            used_frames.add(fid)
        for radargram in radargrams:
            read += 1
            layouts[radargram.layout] += 1
            if radargram.survey_year is not None:
                years[radargram.survey_year] += 1
            for note in radargram.notes:  # the cuts of one frame share its notes: said once per file
                if note not in notes.setdefault(path.name, []):
                    notes[path.name].append(note)
            ok, reason = radargram.usability(rows_needed, columns)
            usable += ok
            if not ok:
                unusable[str(path) if len(radargrams) == 1 else radargram.name] = reason
            if ok or include_unusable:
                kept.append(radargram)
    layout = ", ".join(sorted(layouts)) or ("seed_release" if is_seed_release(folder) else "none")
    summary = FolderSummary(n_files, readable, usable, bad, unusable, time.perf_counter() - t0,
                            layout if len(layouts) <= 1 else f"mixed ({layout})", read, leftover, notes,
                            dict(years), len(used_frames))
    return kept, summary


def detect_survey_year(path: str | os.PathLike) -> tuple[int, str]:
    """(survey year, where it came from): file name dates, else the GPS time of the first file, else 2012."""
    path = Path(path)
    files: list[Path] = []
    if path.is_dir():
        files = sorted((path / "image").glob("*.mat")) if is_seed_release(path) else sorted(path.rglob("*.mat"))
    elif path.is_file():
        files = [path]
    years = Counter(y for y in (year_from_name(p) for p in files) if y is not None)
    if years:
        return years.most_common(1)[0][0], "file name date"
    for candidate in files[:3]:
        try:
            radargrams = load_radargrams(candidate)
        except UserError:
            continue
        if radargrams and radargrams[0].survey_year is not None:
            return radargrams[0].survey_year, radargrams[0].survey_year_source
    return DEFAULT_SURVEY_YEAR, f"default {DEFAULT_SURVEY_YEAR} (no YYYYMMDD date in the file names, no GPS time)"


# --------------------------------------------------------------------------------------------- writing


def write_radargram(path: str | os.PathLike, variables: dict[str, np.ndarray], fmt: str = "v7.3",
                    compress: bool = True) -> Path:
    """Write MATLAB-shaped arrays (e.g. ``layers_vector`` [L × 256], ``Latitude`` [256 × 1]) atomically.

    ``fmt`` is ``v7.3`` (HDF5 behind the 512-byte MATLAB header, arrays stored transposed, as MATLAB
    does) or ``v5`` (scipy.io.savemat).
    """
    return write_mat(path, variables, fmt, compress)


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


__all__ = ["MAT73_HEADER_BYTES", "FolderSummary", "Radargram", "ReadOptions", "detect_survey_year",
           "layers_usability", "load_radargram", "load_radargram_folder", "load_radargrams", "mat_files",
           "radargram_variables", "read_radargram_file", "write_radargram"]
