"""Atomic file writes: a temp file in the destination folder, then `os.replace`, removed on every failure path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: suffix of every temp file nivalis writes (`.NAME.PID.tmp` beside NAME), so stale ones can be recognised
TMP_SUFFIX = ".tmp"


def temp_path(path: str | os.PathLike) -> Path:
    """The temp name used for `path` while it is written: `.NAME.PID.tmp` in the same folder.

    The extension is kept at the end when a writer picks its format from it (`.NAME.PID.tmp.png`).
    """
    path = Path(path)
    return path.with_name(f".{path.stem}.{os.getpid()}{TMP_SUFFIX}{path.suffix}")


@contextmanager
def atomic_path(path: str | os.PathLike, *, mkdir: bool = True) -> Iterator[Path]:
    """Yield a temp path to write to; on success it replaces `path` atomically, on failure it is removed.

    `with atomic_path(out / "model.onnx") as tmp: torch.onnx.export(..., tmp)`
    """
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


__all__ = ["TMP_SUFFIX", "atomic_path", "atomic_write_bytes", "atomic_write_text", "temp_path"]
