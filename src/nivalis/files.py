"""Output files: checked before any work, written atomically (temp file in the destination folder + `os.replace`),
temp files removed on every failure path and stale ones of ours cleaned when a run starts in a folder."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nivalis.errors import UserError

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


_OUR_TEMP = re.compile(r"^\..+\.(\d+)\.tmp(\.[A-Za-z0-9]+)?$")


def torch_load_weights(path: str | os.PathLike):
    """`torch.load(path, weights_only=True)` on the CPU, without torch's pickle-protocol warning.

    A file that is not a torch checkpoint (e.g. an insightface `.bin`, a plain protocol-4 pickle) makes
    torch warn before its restricted unpickler refuses it; the caller turns the refusal into one error line.
    Garbage or truncated bytes (struct, index, overflow errors deep in torch's unpickler) become a `ValueError`.
    """
    import struct
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except (struct.error, IndexError, OverflowError, RecursionError, TypeError, AttributeError,
                MemoryError) as exc:  # what torch's unpickler raises on garbage or truncated bytes
            raise ValueError(f"corrupt or truncated file ({type(exc).__name__}: {str(exc)[:100]})") from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove temp files of our naming (`.NAME.PID.tmp[.ext]`) left by processes that no longer run."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        m = _OUR_TEMP.match(entry.name)
        if m and entry.is_file() and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def _probe_writable(folder: Path, option: str, shown: Path) -> None:
    probe = folder / f".nivalis-probe.{os.getpid()}.tmp"
    try:
        with open(probe, "wb") as fh:
            fh.write(b"0")
    except OSError as exc:
        raise UserError(f"{option} {shown}: cannot write in {folder} ({exc.strerror or exc})") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass


def _check_free(folder: Path, need_bytes: int, option: str, shown: Path) -> None:
    if need_bytes > 0:
        free = shutil.disk_usage(folder).free
        if free < need_bytes:
            raise UserError(f"{option} {shown}: {need_bytes / 2**20:.0f} MiB needed, "
                            f"{free / 2**20:.0f} MiB free in {folder}")


def check_path_name(path: str | os.PathLike, option: str = "--out") -> Path:
    """Refuse an empty path, or one whose name the file system cannot hold (a component over 255 bytes, or over
    4095 bytes in all), in one line before any work."""
    text = os.fspath(path)
    if not str(text).strip():
        raise UserError(f"{option} is empty; give a path")
    limit = os.pathconf("/", "PC_NAME_MAX") if hasattr(os, "pathconf") else 255
    for part in Path(text).parts:
        if len(os.fsencode(part)) > limit:
            raise UserError(f"{option}: the name {part[:40]}... is {len(os.fsencode(part))} bytes long; the file "
                            f"system takes at most {limit}")
    if len(os.fsencode(os.path.abspath(text))) > 4095:
        raise UserError(f"{option}: the path is longer than the 4095 bytes the file system takes")
    return Path(text)


def prepare_output_dir(path: str | os.PathLike, *, option: str = "--out", need_bytes: int = 0,
                       lock: bool = True) -> Path:
    """Check (before any work) that `path` is, or can become, a writable folder, lock it for this run (`acquire_lock`)
    and clean our stale temps in it.

    Raises a one-line `UserError` naming the option when `path` is an existing file, sits under a file, or
    cannot be written (read-only file system, `/proc`, no permission), or when less than `need_bytes` is free.
    Nothing but the lock beside `path` is created here: the probe is written (and removed) in the nearest folder
    that exists, so a run that fails later leaves no empty folder behind (the lock, and any folder made for it, go
    when the command ends); the writers create the folder when they write.
    """
    shown = check_path_name(path, option)
    folder = shown.expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{option} {shown} is an existing file; a folder is meant")
    ancestor = folder
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(f"{option} {shown}: {ancestor} is a file, so no folder can be made under it")
    _probe_writable(ancestor, option, shown)
    _check_free(ancestor, need_bytes, option, shown)
    if lock:
        acquire_lock(folder, option=option)
    if os.environ.get("WORLD_SIZE", "1") == "1":  # under torchrun a temp may be another host's live process's
        clean_stale_temps(folder)
    return folder


def prepare_output_file(path: str | os.PathLike, *, option: str = "--out", need_bytes: int = 0) -> Path:
    """Check (before any work) that the file `path` can be written: not a folder, its folder writable."""
    shown = check_path_name(path, option)
    target = shown.expanduser().resolve()
    if target.is_dir():
        raise UserError(f"{option} {shown} is an existing folder; a file name is meant")
    prepare_output_dir(target.parent, option=option, need_bytes=need_bytes, lock=False)
    acquire_lock(target, option=option)
    return target


__all__ = ["TMP_SUFFIX", "acquire_lock", "atomic_path", "atomic_write_bytes", "atomic_write_text", "check_path_name",
           "clean_stale_temps", "lock_path", "prepare_output_dir", "prepare_output_file", "release_locks", "temp_path",
           "torch_load_weights"]


# --- run locks: two runs never write into one output ---------------------------------------------------------------

#: lock files this process holds → [times taken, folders made for it] (released at the end of a command, or at exit)
_HELD: dict[Path, list] = {}


def lock_path(target: str | os.PathLike) -> Path:
    """The lock of an output folder or file: `.NAME.nivalis-lock` beside it (so it exists before the output does)."""
    target = Path(target).expanduser().resolve()
    return target.with_name(f".{target.name}.nivalis-lock")


def acquire_lock(target: str | os.PathLike, *, option: str = "--out") -> Path | None:
    """Hold the lock of `target` for this process (re-entrant); refuse in one line while another live run holds it.

    The lock file holds `pid host`; a lock whose process no longer runs on this host is stale and taken over. Under
    torchrun only rank 0 locks (the ranks of one run share their outputs).
    """
    import atexit
    import socket

    if os.environ.get("RANK", "0") != "0":
        return None
    path = lock_path(target)
    if path in _HELD:
        _HELD[path][0] += 1
        return path
    host = socket.gethostname()
    made = []
    for folder in [path.parent, *path.parent.parents]:  # the folders made for the lock go when it is released
        if folder.exists():
            break
        made.append(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid_text, _, holder = path.read_text(encoding="utf-8").strip().partition(" ")
                pid = int(pid_text)
            except (OSError, ValueError):  # being written this instant, or unreadable: look again
                import time

                time.sleep(0.05)
                continue
            if holder == host and (pid == os.getpid() or not _pid_alive(pid)):
                path.unlink(missing_ok=True)  # stale (its run was killed) or ours from an earlier command
                continue
            raise UserError(f"{option} {target} is in use by another nivalis run (pid {pid} on {holder}; lock "
                            f"{path}); wait for it or choose another {option}") from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {host}\n")
        if not _HELD:
            atexit.register(release_locks)
        _HELD[path] = [1, made]
        return path
    raise UserError(f"{option} {target}: could not take its lock {path}")


def release_locks() -> None:
    """Remove every lock this process holds (the end of a command)."""
    for path, (_, made) in list(_HELD.items()):
        path.unlink(missing_ok=True)
        del _HELD[path]
        for folder in made:  # innermost first; one the run wrote into is not empty and stays
            try:
                folder.rmdir()
            except OSError:
                break
