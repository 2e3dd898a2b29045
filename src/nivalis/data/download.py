"""Opt-in download of the official data-set archives (`--download`), checksum-verified; never needed offline.

Each reader registers its archives with `register_archives(name, [Archive(...)])`. `download_dataset`
fetches the missing ones with urllib (a socket timeout, so a machine without network fails within
seconds instead of hanging), checks the MD5 the data set's publisher distributes (also what torchvision
and TensorFlow Datasets verify), and unpacks them into the data directory with path-traversal checks.
Any failure is a `UserError` (the CLI prints `error: ...` and exits 2); a partial file never
remains under the archive's name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from nivalis.errors import UserError
from nivalis.files import atomic_path
from nivalis.progress import bar

TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Archive:
    url: str
    md5: str
    #: unpack into the data directory (tar.gz / zip); False for a file that is used as downloaded
    extract: bool = True

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_ARCHIVES: dict[str, list[Archive]] = {}


def register_archives(name: str, archives: list[Archive]) -> None:
    _ARCHIVES[name] = archives


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def fetch(archive: Archive, dest_dir: Path, *, timeout: float = TIMEOUT_S) -> Path:
    """Download `archive` into `dest_dir` (skipped when a file with the right MD5 is there)."""
    dest = dest_dir / archive.filename
    if dest.is_file() and md5sum(dest) == archive.md5:
        return dest
    with atomic_path(dest) as tmp:  # a broken download or a wrong checksum leaves nothing behind
        try:
            with urllib.request.urlopen(archive.url, timeout=timeout) as response, open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0)
                progress = bar(total, desc=f"download {archive.filename}")
                while block := response.read(1 << 20):
                    out.write(block)
                    progress.update(len(block))
                progress.close()
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UserError(f"cannot download {archive.url}: {reason} (no network? place the files in {dest_dir} "
                            f"yourself and leave out --download)") from None
        got = md5sum(tmp)
        if got != archive.md5:
            raise UserError(f"checksum mismatch for {archive.url}: md5 {got}, expected {archive.md5}")
    return dest


def _safe_target(root: Path, member: str) -> Path:
    target = (root / member).resolve()
    if root.resolve() not in target.parents and target != root.resolve():
        raise UserError(f"archive member {member!r} would unpack outside {root}")
    return target


def extract(path: Path, dest_dir: Path) -> None:
    """Unpack a .tar.gz or .zip into `dest_dir`, refusing members that point outside it."""
    if tarfile.is_tarfile(path):
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                _safe_target(dest_dir, member.name)
            tar.extractall(dest_dir, filter="data")
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                target = _safe_target(dest_dir, info.filename)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    else:
        raise UserError(f"{path} is neither a tar nor a zip archive")


def download_dataset(name: str, data_dir: str | os.PathLike, *, timeout: float = TIMEOUT_S) -> Path:
    """Fetch, verify and unpack the official archives of data set `name` into `data_dir`."""
    if name not in _ARCHIVES:
        known = ", ".join(sorted(_ARCHIVES)) or "none"
        raise UserError(f"data set {name!r} has no download (downloadable: {known})")
    root = Path(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    for archive in _ARCHIVES[name]:
        path = fetch(archive, root, timeout=timeout)
        if archive.extract:
            extract(path, root)
    return root


def load_with_download(name: str, data_dir: str | os.PathLike | None = None, download: bool = False):
    """`load_classification(name, data_dir)`, first fetching the official archives when `download` is set."""
    from nivalis.data.base import load_classification

    if not download:
        return load_classification(name, data_dir)
    if name not in _ARCHIVES:
        raise UserError(f"data set {name!r} has no download (downloadable: {', '.join(sorted(_ARCHIVES))})")
    if data_dir is None:
        raise UserError("--download needs --data-dir (where the archives are stored and unpacked)")
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    return load_classification(name, data_dir, download=True)
