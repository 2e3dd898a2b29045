"""Write `.mat` files as MATLAB does, for the reader tests: v7.3 with structs, cells (object references) and empties."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import h5py
import numpy as np

HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."


def write_v73(path: Path, variables: dict[str, Any]) -> Path:
    """dict → struct (HDF5 group), list → 1×N cell (references into #refs#), empty array → MATLAB_empty,
    numeric array → dataset stored transposed (MATLAB is column-major); 1-D arrays are 1×N rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    counter = itertools.count()
    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")

        def put(group: h5py.Group, name: str, value: Any) -> None:
            if isinstance(value, dict):
                sub = group.create_group(name)
                sub.attrs["MATLAB_class"] = np.bytes_("struct")
                for key, item in value.items():
                    put(sub, key, item)
            elif isinstance(value, list):
                targets = []
                for item in value:
                    key = f"r{next(counter)}"
                    put(refs, key, item)
                    targets.append(refs[key].ref)
                ds = group.create_dataset(name, data=np.array(targets, dtype=h5py.ref_dtype).reshape(-1, 1))
                ds.attrs["MATLAB_class"] = np.bytes_("cell")
            else:
                arr = np.asarray(value, dtype=np.float64)
                if arr.size == 0:
                    ds = group.create_dataset(name, data=np.zeros(2, dtype=np.uint64))
                    ds.attrs["MATLAB_empty"] = np.uint8(1)
                else:
                    ds = group.create_dataset(name, data=np.atleast_2d(arr).T)
                ds.attrs["MATLAB_class"] = np.bytes_("double")

        for key, value in variables.items():
            put(f, key, value)
    with path.open("r+b") as fh:
        fh.write(HEADER)
    return path
