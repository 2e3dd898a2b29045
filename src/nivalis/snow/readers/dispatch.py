"""The one entry point of the Snow Radar readers: it tells a file's or a folder's layout and reads it with its reader.

Layouts (each radargram says which one it came from in ``Radargram.layout``; a folder summary in ``layout``):

- ``layers_vector``: the processed CReSIS / Lehigh set, one `.mat` per radargram
  (`nivalis.snow.readers.layers_vector`, which also writes it);
- ``seed_release``: seed 000's release, a folder with ``image/NAME.mat`` and ``layer_bin/NAME.png`` label
  images traced into layer rows (`nivalis.snow.readers.seed_release`, which also writes it);
- ``CSARP_layer`` / ``layerData``: CReSIS layer files in two-way travel time (`nivalis.snow.readers.cresis_layer`),
  with or without the echogram frame of the same frame id (`nivalis.snow.readers.cresis_frame`), cut into
  radargrams of ``columns`` traces.

MATLAB v5 and v7.3 files are read by `nivalis.snow.readers.matfile`. A file's layout is told by its variables
(`nivalis.snow.readers.radargram.layout_of`: ``layers_vector``, ``twtt``, ``layerData``; an echogram frame
has ``Data`` and ``Time``), a folder's by its ``image/`` + ``layer_bin/`` sub-folders. Convention fixes and
warnings are one-line ``notes`` per radargram (collected per file in the folder summary); what cannot be
used is a UserError. A radargram is *usable* for seed 000 when its first ``1 + targets + features`` rows
(surface + 5 + 10 = 16) are tracked in every column.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nivalis.errors import UserError
from nivalis.snow.readers.cresis_frame import find_frame, frame_id
from nivalis.snow.readers.cresis_layer import cresis_radargrams
from nivalis.snow.readers.layers_vector import ECHOGRAM_FIELDS, from_layers_vector
from nivalis.snow.readers.matfile import mat_variable_names, read_mat
from nivalis.snow.readers.radargram import Radargram, ReadOptions, layout_of
from nivalis.snow.readers.seed_release import is_seed_release, read_seed_pair, seed_pair_of, seed_release_pairs


def _read_file(path: Path, options: ReadOptions, frames: dict[str, Path] | None = None
               ) -> tuple[list[Radargram], int]:
    """(radargrams, traces left over) of one file of any layout."""
    pair = seed_pair_of(path)
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
    if "negative" in reason:
        return "negative rows"
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


__all__ = ["FolderSummary", "load_radargram", "load_radargram_folder", "load_radargrams", "mat_files",
           "read_radargram_file"]
