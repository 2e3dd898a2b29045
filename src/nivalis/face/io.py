"""Face data as researchers distribute it: insightface `.bin` pairs, MXNet RecordIO, a folder per identity.

Why one module of this size (over 350 lines): the three layouts share decoding, the 112×112 size check
and the identity labelling, and `open_face_data` picks among them; apart they would copy those rules.

- **Verification `.bin`** (`lfw.bin`, `cfp_fp.bin`, `agedb_30.bin` of insightface's `faces_emore`): a
  pickle of `(bins, issame_list)`; `bins` holds 2·P encoded JPEG/PNG images (pair k = images 2k, 2k+1),
  `issame_list` P booleans (Python or NumPy). Written by Python 3 (protocol 2 to 5) or by Python 2 (`str`
  images, read with `encoding="bytes"`). insightface's current `build_eval_pack.py` stores each image as the
  1-D uint8 array `cv2.imencode` returns instead of bytes; such arrays are rebuilt through NumPy's
  `_reconstruct` (protocols 2-4) or `_frombuffer` (protocol 5) and `dtype`, each wrapped so that it builds
  only a uint8 (image) or bool (issame) array of at most one dimension: the allow-list unpickler
  (`nivalis.data.pickles`) rebuilds those and nothing else, so a crafted file is refused rather than run.
  Images are decoded with OpenCV (BGR → RGB) and must be 112×112; others are resized, with a warning.
- **MXNet RecordIO** (`train.rec` + `train.idx`), parsed without mxnet. A record is
  `uint32 magic 0xced7230a`, `uint32 lrecord` (upper 3 bits: continuation flag, lower 29: length), the
  payload, zero padding to 4 bytes; a payload holding the magic at an aligned position is split into parts
  (flags 1, 2, 3) and joined back with the magic between them, as dmlc-core does. An image record's payload
  is the header `struct.pack("IfQQ", flag, label, id, id2)`, then `flag` float32 labels when `flag > 0`
  (the first is the identity), then the encoded image. In insightface's sets record 0 is a header record
  (`flag > 0`, labels = (first identity record, end)): the images are records 1 … label[0] − 1 and the
  records after them give each identity's image range. `train.idx` is text, `key<TAB>offset` per line;
  a `.rec` without its `.idx` is refused by name (a scan cannot tell image records from the rest).
- **Folders**: `ROOT/IDENTITY/*.jpg|jpeg|png|bmp`, identities numbered in sorted name order.

Every reader yields uint8 RGB images (H, W, 3); a corrupt or truncated file is a one-line `UserError`
naming it.
"""

from __future__ import annotations

import os
import pickle
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from nivalis.data.pickles import BYTES, RestrictedUnpickler
from nivalis.errors import UserError
from nivalis.files import atomic_path

__all__ = [
    "IMAGE_SUFFIXES", "FaceFolder", "RecordIO", "VerificationPairs", "decode_image", "encode_image", "load_bin",
    "open_face_data", "write_bin", "write_recordio",
]

FACE_SIZE = 112
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
RECORD_MAGIC = 0xCED7230A
_IR_HEADER = struct.Struct("<IfQQ")
_LENGTH_MASK = (1 << 29) - 1
#: the dtypes a `.bin` may rebuild: encoded images (uint8) and issame (bool)
_BIN_DTYPES = (np.dtype(np.uint8), np.dtype(bool))


# ------------------------------------------------------------------------------------------------ images

def decode_image(data: bytes, source: str) -> np.ndarray:
    """Encoded JPEG/PNG/BMP bytes → uint8 RGB (H, W, 3); undecodable bytes are a UserError naming `source`."""
    buf = np.frombuffer(data, dtype=np.uint8) if len(data) else np.zeros(0, np.uint8)
    logging = cv2.utils.logging
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)  # a truncated TIFF's libtiff errors: the UserError below says it
    try:
        image = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    finally:
        logging.setLogLevel(level)
    if image is None:
        raise UserError(f"{source}: not a decodable image ({len(data)} bytes)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def encode_image(image: np.ndarray, ext: str = ".png") -> bytes:
    """uint8 RGB (H, W, 3) or gray (H, W) → encoded bytes (PNG by default, lossless)."""
    image = np.asarray(image, dtype=np.uint8)
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(ext, image)
    if not ok:
        raise UserError(f"cannot encode an image of shape {list(image.shape)} as {ext}")
    return buf.tobytes()


def _check_size(images: list[np.ndarray], source: str, size: int = FACE_SIZE) -> list[np.ndarray]:
    wrong = sum(1 for im in images if im.shape[:2] != (size, size))
    if not wrong:
        return images
    first = next(im.shape[:2] for im in images if im.shape[:2] != (size, size))
    warnings.warn(f"{source}: {wrong} image(s) are not {size}×{size} (first {first[0]}×{first[1]}); resized",
                  stacklevel=3)
    return [im if im.shape[:2] == (size, size) else cv2.resize(im, (size, size), interpolation=cv2.INTER_LINEAR)
            for im in images]


# ------------------------------------------------------------------------------------------------ .bin

def _refuse(what: str):
    raise pickle.UnpicklingError(f"refusing to rebuild {what} (a .bin holds uint8 images and bool flags only)")


def _bin_dtype(obj, align=False, copy=False):
    dtype = np.dtype(obj) if isinstance(obj, str) and obj in ("u1", "b1", "|u1", "|b1", "uint8", "bool") else None
    if dtype is None or align or dtype not in _BIN_DTYPES:
        _refuse(f"numpy.dtype({obj!r})")
    return np.dtype(obj, align, copy)


def _bin_reconstruct(cls, shape, typecode):
    if cls is not np.ndarray or tuple(shape) != (0,):
        _refuse(f"_reconstruct({cls!r}, {shape!r})")
    return np.ndarray.__new__(np.ndarray, (0,), np.uint8)  # its __setstate__ sets dtype and data, checked after


def _bin_frombuffer(buf, dtype, shape, order):
    if not isinstance(buf, (bytes, bytearray, pickle.PickleBuffer)) or not isinstance(dtype, np.dtype) \
            or dtype not in _BIN_DTYPES or len(tuple(shape)) > 1:
        _refuse(f"_frombuffer(dtype {dtype!r}, shape {shape!r})")
    return np.frombuffer(buf, dtype=dtype).reshape(shape).copy()


def _bin_scalar(dtype, data):
    if not isinstance(dtype, np.dtype) or dtype != np.dtype(bool) or not isinstance(data, bytes) or len(data) != 1:
        _refuse(f"numpy scalar of {dtype!r}")
    return np.frombuffer(data, dtype=bool)[0]


#: (module, name) → the guarded stand-in rebuilt in its place, NumPy 1.x (`numpy.core`) and 2.x (`numpy._core`)
_BIN_GLOBALS = {
    ("numpy", "dtype"): _bin_dtype, ("numpy", "ndarray"): np.ndarray,
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _bin_reconstruct for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _bin_frombuffer for core in ("core", "_core")},
    **{(f"numpy.{core}.multiarray", "scalar"): _bin_scalar for core in ("core", "_core")},
}


class _BinUnpickler(RestrictedUnpickler):
    """`RestrictedUnpickler` with NumPy's array constructors replaced by the guarded ones above."""

    def __init__(self, file):
        super().__init__(file, BYTES)

    def find_class(self, module: str, name: str):
        if (module, name) in _BIN_GLOBALS:
            return _BIN_GLOBALS[module, name]
        return super().find_class(module, name)


def _read_bin_payload(f):
    try:
        return _BinUnpickler(f).load()
    except (OverflowError, RecursionError, MemoryError, IndexError, KeyError) as exc:
        raise pickle.UnpicklingError(f"corrupt pickle ({type(exc).__name__})") from None


def _image_bytes(b) -> bytes | None:
    """An encoded image as bytes: bytes, or the 1-D (or (N, 1)) uint8 array of `cv2.imencode`; else None."""
    if isinstance(b, (bytes, bytearray)):
        return bytes(b)
    if isinstance(b, np.ndarray) and b.dtype == np.uint8 and (b.ndim == 1 or (b.ndim == 2 and b.shape[1] == 1)):
        return b.tobytes()
    return None


def _issame_flags(issame, path: Path) -> np.ndarray:
    """insightface's issame list: Python or NumPy booleans, flat; anything else is a UserError."""
    if isinstance(issame, np.ndarray) and issame.dtype == bool and issame.ndim == 1:
        flags = issame
    elif isinstance(issame, (list, tuple)) and all(isinstance(s, (bool, np.bool_)) for s in issame):
        flags = np.array([bool(s) for s in issame], dtype=bool)
    else:
        kind = type(issame).__name__ if not isinstance(issame, (list, tuple)) or not issame else \
            next((type(s).__name__ for s in issame if not isinstance(s, (bool, np.bool_))), "?")
        raise UserError(f"{path}: issame_list must be a flat list of booleans (found {kind})")
    if flags.size == 0:
        raise UserError(f"{path}: issame_list is empty")
    return flags

@dataclass
class VerificationPairs:
    """A verification set: images (2P, H, W, 3) uint8 RGB, pair k = images 2k and 2k+1, `issame` (P,) bool."""

    name: str
    images: np.ndarray
    issame: np.ndarray

    def __len__(self) -> int:
        return len(self.issame)


def load_bin(path: str | os.PathLike, image_size: int = FACE_SIZE) -> VerificationPairs:
    """Read an insightface verification `.bin` (see the module docstring); images resized to `image_size` if needed."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"verification file not found: {path}")
    with open(path, "rb") as f:
        if f.read(2) == b"PK":
            raise UserError(f"{path} is a zip archive (a PyTorch .pt?), not an insightface verification .bin")
    try:
        with open(path, "rb") as f:
            payload = _read_bin_payload(f)
    except pickle.UnpicklingError as exc:
        raise UserError(f"refusing to read {path}: not a plain (images, issame) pickle ({exc})") from None
    except (EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError, KeyError,
            UnicodeDecodeError, MemoryError) as exc:
        raise UserError(f"{path} is not an insightface verification .bin (corrupt or truncated: "
                        f"{type(exc).__name__})") from None
    if not (isinstance(payload, (tuple, list)) and len(payload) == 2):
        raise UserError(f"{path} is not an insightface verification .bin (expected a pickled (bins, issame) pair)")
    bins, issame = payload
    issame = _issame_flags(issame, path)
    encoded = [_image_bytes(b) for b in bins] if isinstance(bins, (list, tuple)) else [None]
    if any(b is None for b in encoded):
        raise UserError(f"{path}: the images must be a list of encoded images (bytes or cv2.imencode's uint8 arrays)")
    if len(encoded) < 2 * len(issame):
        raise UserError(f"{path}: {len(encoded)} images for {len(issame)} pairs (needs 2 per pair)")
    images = [decode_image(encoded[i], f"{path} image {i}") for i in range(2 * len(issame))]
    images = _check_size(images, str(path), image_size)
    return VerificationPairs(path.stem, np.stack(images), issame)


def write_bin(path: str | os.PathLike, images, issame, *, protocol: int = 4, ext: str = ".png") -> Path:
    """Write a verification `.bin` in insightface's layout (images: uint8 RGB arrays or encoded bytes), atomically."""
    bins = [bytes(im) if isinstance(im, (bytes, bytearray)) else encode_image(im, ext) for im in images]
    payload = (bins, [bool(s) for s in issame])
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        pickle.dump(payload, f, protocol=protocol)
    return Path(path)


# ------------------------------------------------------------------------------------------------ RecordIO

def _split_record(payload: bytes) -> list[tuple[int, bytes]]:
    """dmlc-core's writer: split at every 4-aligned occurrence of the magic → [(cflag, part)]."""
    magic = struct.pack("<I", RECORD_MAGIC)
    parts, start = [], 0
    for i in range(0, len(payload) - len(payload) % 4, 4):
        if payload[i:i + 4] == magic:
            parts.append((1 if start == 0 else 2, payload[start:i]))
            start = i + 4
    parts.append((3 if start else 0, payload[start:]))
    return parts


def _pack_record(payload: bytes) -> bytes:
    out = bytearray()
    for cflag, part in _split_record(payload):
        out += struct.pack("<II", RECORD_MAGIC, (cflag << 29) | len(part)) + part
        out += b"\0" * (-len(part) % 4)
    return bytes(out)


def _pack_image_record(label, index: int, image: bytes) -> bytes:
    label = np.asarray(label, dtype=np.float32).reshape(-1)
    if label.size == 1:
        return _IR_HEADER.pack(0, float(label[0]), index, 0) + image
    return _IR_HEADER.pack(label.size, 0.0, index, 0) + label.tobytes() + image


def write_recordio(rec_path: str | os.PathLike, images, labels, *, header: bool = True, ext: str = ".png") -> Path:
    """Write `train.rec` + `train.idx` as insightface's sets are laid out (with record 0 as header record).

    Images are uint8 RGB arrays or encoded bytes; labels integers. With `header=True` record 0 holds
    (first identity record, end) and, when the labels are grouped (each identity's images contiguous), one
    record per identity gives its image range, as in `faces_emore/train.rec`.
    """
    rec_path = Path(rec_path)
    labels = [int(v) for v in labels]
    encoded = [bytes(im) if isinstance(im, (bytes, bytearray)) else encode_image(im, ext) for im in images]
    if len(encoded) != len(labels):
        raise UserError(f"{len(encoded)} images but {len(labels)} labels")
    records: list[bytes] = []
    if header:
        runs: list[tuple[int, int, int]] = []  # (identity, first image key, end key)
        for key, label in enumerate(labels, start=1):
            if runs and runs[-1][0] == label:
                runs[-1] = (label, runs[-1][1], key + 1)
            else:
                runs.append((label, key, key + 1))
        grouped = len({r[0] for r in runs}) == len(runs)
        first_id = len(labels) + 1
        end = first_id + (len(runs) if grouped else 0)
        records.append(_pack_image_record([first_id, end], 0, b""))
    records += [_pack_image_record(label, key, im) for key, (label, im) in
                enumerate(zip(labels, encoded), start=1 if header else 0)]
    if header and grouped:
        records += [_pack_image_record([start, stop], first_id + k, b"") for k, (_, start, stop) in enumerate(runs)]
    idx_path = rec_path.with_suffix(".idx")
    lines, offset = [], 0
    with atomic_path(rec_path) as tmp, open(tmp, "wb") as f:
        for key, payload in enumerate(records):
            blob = _pack_record(payload)
            lines.append(f"{key}\t{offset}\n")
            f.write(blob)
            offset += len(blob)
        f.flush()
        with atomic_path(idx_path) as tmp_idx:
            tmp_idx.write_text("".join(lines), encoding="ascii")
    return rec_path


class RecordIO:
    """Random access to an MXNet image RecordIO file (see the module docstring); `image(i)`, `labels`.

    The images are the records after the header record (if any); `labels` (int64) are read once, from
    each record's header.
    """

    def __init__(self, rec_path: str | os.PathLike, idx_path: str | os.PathLike | None = None):
        self.path = Path(rec_path)
        if not self.path.is_file():
            raise UserError(f"RecordIO file not found: {self.path}")
        self.size = self.path.stat().st_size
        idx = Path(idx_path) if idx_path is not None else self.path.with_suffix(".idx")
        if not idx.is_file():
            raise UserError(f"{self.path}: its index {idx.name} is missing (a RecordIO set is {self.path.name} + "
                            f"{idx.name}, as insightface distributes it)")
        self.offsets = self._read_idx(idx)
        if not self.offsets:
            raise UserError(f"{self.path}: empty RecordIO file")
        flag, label, _ = self._header(self.read(min(self.offsets)))
        if flag > 0 and len(label) >= 2:  # insightface header record
            keys = [k for k in range(1, int(label[0])) if k in self.offsets]
            if len(keys) != int(label[0]) - 1:
                raise UserError(f"{self.path}: header record names images 1..{int(label[0]) - 1} but the index "
                                f"lacks {int(label[0]) - 1 - len(keys)} of them")
        else:
            keys = sorted(self.offsets)
        self.keys = keys
        self.labels = np.array([int(self._header(self.read(k))[1][0]) for k in keys], dtype=np.int64)

    # -- low level
    def _read_idx(self, idx: Path) -> dict[int, int]:
        offsets = {}
        for n, line in enumerate(idx.read_text(encoding="ascii", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split("\t")
            try:
                key, offset = int(parts[0]), int(parts[1])
            except (IndexError, ValueError):
                raise UserError(f"{idx}: line {n} is not 'key<TAB>offset': {line[:60]!r}") from None
            if not 0 <= offset < self.size:
                raise UserError(f"{idx}: line {n} points at offset {offset}, beyond {self.path} ({self.size} bytes)")
            offsets[key] = offset
        return offsets

    def _record_head(self, f, offset: int) -> tuple[int, int]:
        f.seek(offset)
        head = f.read(8)
        if len(head) < 8:
            raise UserError(f"{self.path}: truncated RecordIO record at offset {offset}")
        magic, lrec = struct.unpack("<II", head)
        if magic != RECORD_MAGIC:
            raise UserError(f"{self.path}: not a RecordIO record at offset {offset} (magic {magic:#010x})")
        length = lrec & _LENGTH_MASK
        if offset + 8 + length > self.size:
            raise UserError(f"{self.path}: truncated RecordIO record at offset {offset}")
        return lrec >> 29, length

    def read(self, key: int) -> bytes:
        """The payload of record `key` (multi-part records joined)."""
        if key not in self.offsets:
            raise UserError(f"{self.path}: no record {key} in its index")
        offset, out = self.offsets[key], bytearray()
        magic = struct.pack("<I", RECORD_MAGIC)
        with open(self.path, "rb") as f:
            while True:
                cflag, length = self._record_head(f, offset)
                out += f.read(length)
                offset += 8 + length + (-length % 4)
                if cflag in (0, 3):
                    return bytes(out)
                if offset >= self.size:
                    raise UserError(f"{self.path}: truncated multi-part RecordIO record {key}")
                out += magic

    def _header(self, payload: bytes) -> tuple[int, np.ndarray, bytes]:
        if len(payload) < _IR_HEADER.size:
            raise UserError(f"{self.path}: record too short for an image header ({len(payload)} bytes)")
        flag, label, _, _ = _IR_HEADER.unpack_from(payload)
        rest = payload[_IR_HEADER.size:]
        if flag > 0:
            if len(rest) < 4 * flag:
                raise UserError(f"{self.path}: record header announces {flag} labels but holds fewer")
            labels = np.frombuffer(rest[:4 * flag], dtype="<f4").astype(np.float64)
            rest = rest[4 * flag:]
        else:
            labels = np.array([label], dtype=np.float64)
        return flag, labels, rest

    # -- images
    def __len__(self) -> int:
        return len(self.keys)

    def image(self, i: int) -> np.ndarray:
        key = self.keys[i]
        _, _, data = self._header(self.read(key))
        return decode_image(data, f"{self.path} record {key}")


class FaceFolder:
    """A folder per identity, `ROOT/IDENTITY/*.jpg|jpeg|png|bmp`; `image(i)`, `labels`, `identities`."""

    def __init__(self, root: str | os.PathLike):
        self.path = Path(root)
        if not self.path.is_dir():
            raise UserError(f"face folder not found: {self.path}")
        self.identities = sorted(d.name for d in self.path.iterdir() if d.is_dir() and not d.name.startswith("."))
        files, labels = [], []
        for k, name in enumerate(self.identities):
            found = sorted(p for p in (self.path / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            files += found
            labels += [k] * len(found)
        if not files:
            raise UserError(f"{self.path}: no images in ROOT/IDENTITY/*.jpg|png folders (nor train.rec)")
        self.files = files
        self.labels = np.array(labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.files)

    def image(self, i: int) -> np.ndarray:
        path = self.files[i]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UserError(f"cannot read {path}: {exc.strerror}") from None
        return decode_image(data, str(path))


def open_face_data(path: str | os.PathLike) -> RecordIO | FaceFolder:
    """A training set: `train.rec` (a `.rec` file or a folder holding `train.rec`) or a folder per identity."""
    path = Path(path)
    if path.is_file() and path.suffix == ".rec":
        return RecordIO(path)
    if path.is_dir() and (path / "train.rec").is_file():
        return RecordIO(path / "train.rec")
    if path.is_dir():
        return FaceFolder(path)
    if not path.exists():
        raise UserError(f"face data not found: {path}")
    raise UserError(f"{path}: expected a RecordIO .rec file, a folder with train.rec or a folder per identity")


