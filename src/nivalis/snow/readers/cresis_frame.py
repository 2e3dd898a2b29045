"""CReSIS echogram frames ``Data_YYYYMMDD_SS_FFF.mat``: found by frame id beside their layer file, and read.

A frame holds ``Data`` [Nt × Nx] (the echogram), ``Time`` [Nt] (s), ``Latitude``, ``Longitude``, ``Elevation``,
``Surface`` (s) and ``GPS_time``, any number of traces. It carries no layer picks: it pairs with the
``CSARP_layer`` / ``layerData`` file of the same frame id ``YYYYMMDD_SS_FFF`` (`nivalis.snow.readers.cresis_layer`),
to which it gives positions, the ``Time`` axis of the pixel rows and the echogram image.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from nivalis.errors import UserError
from nivalis.snow.readers.matfile import mat_variable_names, read_mat
from nivalis.snow.readers.radargram import layout_of

FRAME_ID = re.compile(r"(\d{8}_\d{2}_\d{3})")


def frame_id(path: Path) -> str | None:
    """``YYYYMMDD_SS_FFF`` of a CReSIS file name (``Data_20120330_01_001.mat``), or None."""
    match = FRAME_ID.search(path.stem)
    return match.group(1) if match else None


def read_frame(path: Path, echogram: bool) -> dict[str, Any]:
    """The variables of an echogram frame (``Data`` only with `echogram`), empty fields dropped."""
    raw, _ = read_mat(path, skip=() if echogram else ("Data",))
    return raw


def find_frame(layer_path: Path, candidates: list[Path] | None = None) -> Path | None:
    """The echogram frame with the layer file's frame id: among `candidates`, or beside it / in sibling folders.

    CReSIS keeps ``CSARP_layer/SEGMENT/Data_ID.mat`` beside ``CSARP_standard/SEGMENT/Data_ID.mat``.
    """
    fid = frame_id(layer_path)
    if fid is None:
        return None
    if candidates is None:
        seg = layer_path.parent
        candidates = [p for p in seg.glob(f"*{fid}*.mat") if p != layer_path]
        if seg.parent != seg:
            candidates += [p for p in seg.parent.parent.glob(f"*/{seg.name}/*{fid}*.mat") if p != layer_path]
            candidates += [p for p in seg.parent.glob(f"*/*{fid}*.mat") if p.parent != seg]
    for path in sorted(set(candidates)):
        if frame_id(path) != fid or path == layer_path:
            continue
        try:
            if layout_of(mat_variable_names(path)) == "frame":
                return path
        except UserError:
            continue
    return None


__all__ = ["FRAME_ID", "find_frame", "frame_id", "read_frame"]
