"""Strict image decoding: a truncated JPEG or PNG is an error that names the file, never a half-decoded image.

OpenCV decodes what it can of a cut file and only prints a notice ("Premature end of JPEG file"), so the end
of the stream is checked first: a JPEG must end with its EOI marker (``FF D9``; entropy-coded data never holds
``FF D9``, since ``FF`` is stuffed as ``FF 00`` there), a PNG with its ``IEND`` chunk.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nivalis.errors import UserError

_JPEG, _PNG = b"\xff\xd8", b"\x89PNG\r\n\x1a\n"
#: trailing bytes some writers add after the end marker (padding, a vendor trailer)
_TAIL = 4096


def image_kind(data: bytes) -> str | None:
    """'jpeg', 'png' or None (another format) from the first bytes."""
    if data[:2] == _JPEG:
        return "jpeg"
    if data[:8] == _PNG:
        return "png"
    return None


def check_complete(data: bytes, name: str) -> None:
    """Raise a UserError naming `name` when a JPEG or PNG stream is cut before its end marker."""
    kind = image_kind(data)
    tail = data[-_TAIL:]
    if kind == "jpeg" and b"\xff\xd9" not in tail:
        raise UserError(f"cannot read image {name}: a truncated JPEG (no end-of-image marker); copy the file again")
    if kind == "png" and b"IEND" not in tail:
        raise UserError(f"cannot read image {name}: a truncated PNG (no IEND chunk); copy the file again")


def decode_image(data: bytes, name: str, *, flags: int | None = None) -> np.ndarray:
    """Decode JPEG/PNG/BMP/... bytes with OpenCV (BGR order, as OpenCV returns it) after the completeness check."""
    import cv2

    if not data:  # OpenCV asserts on an empty buffer
        raise UserError(f"cannot read image {name}: the file is empty (0 bytes)")
    check_complete(data, name)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED if flags is None else flags)
    if image is None or image.size == 0:
        raise UserError(f"cannot read image {name}: not an image OpenCV decodes, or corrupt")
    return image


def read_image_file(path: str | os.PathLike, *, flags: int | None = None) -> np.ndarray:
    """`decode_image` of a file's bytes; a missing file is a UserError too."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read image {path}: {exc.strerror or exc}") from None
    return decode_image(data, str(path), flags=flags)


__all__ = ["check_complete", "decode_image", "image_kind", "read_image_file"]
