"""MATLAB `.mat` files as plain Python values: v5 (scipy) and v7.3 (HDF5), structs, cell arrays, empties.

Values come back as MATLAB shows them: numeric arrays in MATLAB's [rows × cols] shape (v7.3 stores them
column-major, so HDF5 shows them transposed and the reader transposes back), strings as `str`, structs as
`dict`, cell arrays and struct arrays of more than one element as `list` (a 1 × 1 cell or struct is its
element). MATLAB-empty arrays (``Elevation = []``) come back as empty arrays, for the layout readers to ignore.
v7.3 cells and struct-array fields are HDF5 object references into ``#refs#``; they are followed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from nivalis.errors import UserError

#: bytes of the MATLAB header in front of the HDF5 data of a v7.3 file
MAT73_HEADER_BYTES = 512
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def mat_kind(path: Path) -> str:
    """"v7.3" or "v5" from the file's signature; anything else is a UserError naming the file."""
    with path.open("rb") as f:
        head = f.read(MAT73_HEADER_BYTES + 8)
    if head[MAT73_HEADER_BYTES:MAT73_HEADER_BYTES + 8] == _HDF5_SIGNATURE or head[:8] == _HDF5_SIGNATURE:
        return "v7.3"
    if head[:6] == b"MATLAB":
        if b"7.3" in head[:20]:
            return "v7.3"  # an HDF5 body was announced but is not where it must be: truncated or damaged
        return "v5"
    if len(head) == 0:
        raise UserError(f"{path}: empty file, not a MATLAB .mat file")
    raise UserError(f"{path}: not a MATLAB .mat file (no MATLAB or HDF5 signature)")


def _collapse(items: list[Any]) -> Any:
    return items[0] if len(items) == 1 else items


def _from_v5(value: Any) -> Any:
    from scipy.io.matlab import mat_struct

    if isinstance(value, mat_struct):
        return {name: _from_v5(getattr(value, name)) for name in value._fieldnames}
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "O":
            return _collapse([_from_v5(v) for v in value.ravel(order="F")])
        if value.dtype.kind in "US":
            return "".join(str(v) for v in value.ravel().tolist())
        return value
    return value


def _from_h5(f: Any, item: Any) -> Any:
    import h5py

    if isinstance(item, h5py.Group):
        return {key: _from_h5(f, sub) for key, sub in item.items() if not key.startswith("#")}
    cls = item.attrs.get("MATLAB_class", b"")
    cls = cls.decode() if isinstance(cls, bytes) else str(cls)
    if item.attrs.get("MATLAB_empty", 0):
        return np.empty((0, 0))
    value = item[()]
    if isinstance(value, np.ndarray) and value.dtype.kind == "O":  # references: a cell or a struct-array field
        return _collapse([_from_h5(f, f[ref]) for ref in value.ravel()])
    value = np.asarray(value)
    if cls == "char":
        return "".join(chr(int(c)) for c in value.ravel())
    return value.T  # MATLAB column-major → the [rows × cols] MATLAB shows


def read_mat(path: Path, *, skip: tuple[str, ...] = ()) -> tuple[dict[str, Any], str]:
    """({variable: value}, "v7.3" | "v5") of a `.mat` file; variables named in `skip` are left out.

    A damaged file is a UserError naming it.
    """
    kind = mat_kind(path)
    out: dict[str, Any] = {}
    if kind == "v7.3":
        import h5py

        try:
            with h5py.File(path, "r") as f:
                for key, item in f.items():
                    if key.startswith("#"):
                        continue
                    if key not in skip:
                        out[key] = _from_h5(f, item)
        except Exception as exc:  # h5py raises OSError, KeyError, RuntimeError, ValueError on damaged files
            first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            raise UserError(f"{path}: truncated or corrupt MATLAB v7.3 (HDF5) file ({first})") from None
        return out, kind
    import scipy.io

    try:
        present = [name for name, _, _ in scipy.io.whosmat(path)] if skip else None
        names = None if present is None else [name for name in present if name not in skip]
        raw = scipy.io.loadmat(path, squeeze_me=False, struct_as_record=False, mat_dtype=False,
                               variable_names=names)
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError, zlib.error on damaged files
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise UserError(f"{path}: truncated or corrupt MATLAB v5 file ({first})") from None
    for key, value in raw.items():
        if not key.startswith("__"):
            out[key] = _from_v5(value)
    return out, kind


def mat_variable_names(path: Path) -> set[str]:
    """The variable names of a `.mat` file without reading their values (a damaged file is a UserError)."""
    kind = mat_kind(path)
    try:
        if kind == "v7.3":
            import h5py

            with h5py.File(path, "r") as f:
                return {key for key in f if not key.startswith("#")}
        import scipy.io

        return {name for name, _, _ in scipy.io.whosmat(path)}
    except Exception as exc:
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise UserError(f"{path}: truncated or corrupt MATLAB {kind} file ({first})") from None


def numeric(value: Any) -> np.ndarray | None:
    """`value` as a float64 array when it is numeric (or logical), else None."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return value.astype(np.float64, copy=False)
    return None


# --------------------------------------------------------------------------------------------- writing


def mat73_header() -> bytes:
    """The 512-byte MATLAB header MATLAB puts in front of the HDF5 body of a v7.3 file."""
    text = (f"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: "
            f"{time.strftime('%a %b %d %H:%M:%S %Y', time.gmtime(0))} HDF5 schema 1.00 .").encode("ascii")
    header = text.ljust(116, b" ") + b" " * 8 + (0x0200).to_bytes(2, "little") + b"IM"
    return header.ljust(MAT73_HEADER_BYTES, b"\x00")


def matlab_class(dtype: np.dtype) -> str:
    if dtype.kind == "f":
        return "single" if dtype.itemsize == 4 else "double"
    if dtype.kind in "ui":
        return f"{'u' if dtype.kind == 'u' else ''}int{8 * dtype.itemsize}"
    return "logical" if dtype.kind == "b" else "double"


def write_mat(path: str | os.PathLike, variables: dict[str, np.ndarray], fmt: str = "v7.3",
              compress: bool = True) -> Path:
    """Write MATLAB-shaped numeric arrays atomically as v7.3 (HDF5 behind the header, transposed) or v5."""
    from nivalis.files import atomic_path

    path = Path(path)
    if fmt not in ("v5", "v7.3", "v73"):
        raise UserError(f"unknown MAT format {fmt!r} (v7.3, v5)")
    with atomic_path(path) as tmp:
        if fmt == "v5":
            import scipy.io

            scipy.io.savemat(tmp, variables, do_compression=compress, oned_as="column")
        else:
            import h5py

            with h5py.File(tmp, "w", userblock_size=MAT73_HEADER_BYTES, libver="earliest") as f:
                for key, value in variables.items():
                    value = np.asarray(value)
                    if value.ndim == 1:
                        value = value.reshape(-1, 1)
                    kwargs = {"compression": "gzip", "compression_opts": 4} if compress and value.size > 4096 else {}
                    ds = f.create_dataset(key, data=value.T, **kwargs)
                    ds.attrs["MATLAB_class"] = np.bytes_(matlab_class(value.dtype))
            with tmp.open("r+b") as f:
                f.write(mat73_header())
    return path


__all__ = ["MAT73_HEADER_BYTES", "mat73_header", "mat_kind", "mat_variable_names", "matlab_class", "numeric",
           "read_mat", "write_mat"]
