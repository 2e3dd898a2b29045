"""The LSTM cell's pointwise equations as one compiled C pass per step, for `lstm_recurrence` on the CPU (opt-in).

`lstm_recurrence` (`nivalis.layers.fused_lstm`) runs each step of a (graph) LSTM as one matmul followed
by the cell equations

.. math::
    \\mathbf{I} = \\sigma(\\mathbf{Z}_i + \\mathbf{w}_{ci} \\odot \\mathbf{C}_{t-1}), \\;
    \\mathbf{F} = \\sigma(\\mathbf{Z}_f + \\mathbf{w}_{cf} \\odot \\mathbf{C}_{t-1}), \\;
    \\mathbf{G} = \\tanh \\mathbf{Z}_c, \\;
    \\mathbf{C}_t = \\mathbf{F} \\odot \\mathbf{C}_{t-1} + \\mathbf{I} \\odot \\mathbf{G}, \\;
    \\mathbf{O} = \\sigma(\\mathbf{Z}_o + \\mathbf{w}_{co} \\odot \\mathbf{C}_t), \\;
    \\mathbf{H}_t = \\mathbf{O} \\odot \\tanh \\mathbf{C}_t

and their backward. In PyTorch every term is a separate pass over the ``[B·N, 4C]`` gate tensor, so memory
traffic, not arithmetic, bounds them. `lstm_cell.c` does a step's equations, forward or backward, in one pass:
each row is read and written once. What each path costs is measured by `benchmarks/snow_epoch.py` and
recorded in `benchmarks/RESULTS.md`.

**Off by default.** Without ``NIVALIS_NATIVE=1`` the cell runs in PyTorch and no compiler is ever looked
for, so results never depend on what is installed. With ``NIVALIS_NATIVE=1``:

- the C file is compiled with ``$CC`` (else ``cc``, ``gcc`` or ``clang`` on ``PATH``) and ``-O3
  -fopenmp-simd`` only; ``NIVALIS_NATIVE_MARCH=native`` (or another ``-march`` value) adds ``-march=...``,
  which ties the library to the CPU it was built on (the CPU's flags then enter the build key);
- the library lives only in ``$NIVALIS_CACHE/native`` (default ``$XDG_CACHE_HOME/nivalis/native`` or
  ``~/.cache/nivalis/native``). Missing folders are created with mode 0700; an existing cache folder or
  its ``native`` folder owned by another user, or writable by group or others, is refused (another local
  user could plant a library there). There is no fallback folder;
- the file name holds a sha256 of the source, the flags and the compiler (path, size, mtime), so a changed
  source or compiler never reuses a stale build; beside it, ``NAME.so.sha256`` (written atomically after
  the library) records the sha256 of the library's bytes. A library is loaded only when its bytes hash to
  the recorded value; a missing or mismatching record means a rebuild, never a load;
- the loaded library must pass a numeric self-test against PyTorch.

Whatever stops that (no compiler, an unsafe cache folder, a failed build or self-test) raises
`nivalis.errors.UserError` with one line that says what and how to go back to the PyTorch cell (unset
``NIVALIS_NATIVE``): a run that asked for the C cell never silently runs another one. The two cells agree
to float32 rounding (``tests/layers/test_native_lstm.py``).

Why one module of this size: building, verifying and binding the library are one trust chain; split, a
reader could call a piece that skips a check.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import re
import shutil
import stat
import subprocess
import threading
from pathlib import Path

import torch
from torch import Tensor

from nivalis.errors import UserError
from nivalis.files import atomic_path, atomic_write_text

SOURCE = Path(__file__).with_name("lstm_cell.c")
MAX_HIDDEN = 1024  # the C code keeps a row's gates on the stack
_FLAGS = ("-O3", "-fopenmp-simd")
_MARCH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
_OFF = "unset NIVALIS_NATIVE to use the PyTorch cell"
_log = logging.getLogger(__name__)
_lock = threading.Lock()
_state: dict[str, object] = {"lib": None, "tried": False, "enabled": None, "error": None}


def enabled() -> bool:
    """Whether this process asked for the C cell: ``NIVALIS_NATIVE=1`` (or `set_enabled`)."""
    if _state["enabled"] is None:
        value = os.environ.get("NIVALIS_NATIVE", "").strip()
        if value not in ("", "0", "1"):
            raise UserError(f"NIVALIS_NATIVE={value!r}: expected 1 (the C LSTM cell) or 0/unset (PyTorch)")
        _state["enabled"] = value == "1"
    return bool(_state["enabled"])


def _compiler() -> str | None:
    for name in (os.environ.get("CC", ""), "cc", "gcc", "clang"):
        path = shutil.which(name.split()[0]) if name.strip() else None
        if path:
            return path
    return None


def _flags() -> tuple[str, ...]:
    march = os.environ.get("NIVALIS_NATIVE_MARCH", "").strip()
    if not march:
        return _FLAGS
    if not _MARCH.fullmatch(march):
        raise UserError(f"NIVALIS_NATIVE_MARCH={march!r}: expected a -march value such as native or x86-64-v3")
    return (*_FLAGS, f"-march={march}")


def _cpu_signature() -> str:
    """The machine and its CPU's feature flags (code built with -march=native runs only where they match)."""
    sig = platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.split(":")[0].strip() in ("flags", "Features", "model name"):
                    sig += line
    except OSError:
        pass
    return sig


def cache_dir() -> Path:
    """Where the library is built: ``$NIVALIS_CACHE/native``, else ``$XDG_CACHE_HOME`` or ``~/.cache``."""
    root = os.environ.get("NIVALIS_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                            os.path.expanduser("~/.cache"), "nivalis")
    return Path(root) / "native"


def _private_folder(path: Path) -> None:
    """Create `path` with mode 0700, or check that it is this user's and that nobody else can write to it."""
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise UserError(f"cannot create the native cache folder {path} ({exc.strerror}); {_OFF}") from None
    info = os.stat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise UserError(f"the native cache folder {path} is not a folder; {_OFF}")
    if info.st_uid != os.getuid():
        raise UserError(f"refusing the native cache folder {path}: owned by uid {info.st_uid}, not by this user "
                        f"({os.getuid()}); set NIVALIS_CACHE to a folder of yours or {_OFF}")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UserError(f"refusing the native cache folder {path}: mode {stat.S_IMODE(info.st_mode):04o} lets "
                        f"other users write to it (chmod 700 {path}) or {_OFF}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build_key(cc: str, flags: tuple[str, ...]) -> str:
    """sha256 of what the library is made of: source, flags, compiler (path, size, mtime), CPU if -march."""
    info = os.stat(cc)
    parts = [SOURCE.read_bytes(), cc.encode(), f"{info.st_size},{info.st_mtime_ns}".encode(), " ".join(flags).encode()]
    if any(flag.startswith("-march=") for flag in flags):
        parts.append(_cpu_signature().encode())
    return hashlib.sha256(b"\0".join(parts)).hexdigest()


def _verified(target: Path) -> bool:
    """Whether `target` exists and its bytes hash to the value recorded beside it at build time."""
    record = target.with_name(target.name + ".sha256")
    try:
        want = record.read_text(encoding="ascii").strip()
        return _sha256(target) == want
    except (OSError, UnicodeDecodeError):
        return False


def _build(cc: str, out_dir: Path) -> Path:
    """The library in `out_dir`, verified by its recorded hash; compiled (atomically) where missing or unverified."""
    try:  # the folders above the cache are the user's business (~/.cache); the cache itself must be private
        out_dir.parent.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {out_dir.parent.parent} for the native cache ({exc.strerror}); {_OFF}") from None
    _private_folder(out_dir.parent)
    _private_folder(out_dir)
    flags = _flags()
    target = out_dir / f"lstm_cell-{_build_key(cc, flags)[:32]}.so"
    if _verified(target):
        return target
    if target.exists():
        _log.warning("%s does not match its recorded sha256; rebuilding it", target)
    with atomic_path(target, mkdir=False) as tmp:
        try:
            proc = subprocess.run([cc, *flags, "-fPIC", "-shared", "-o", str(tmp), str(SOURCE)],
                                  capture_output=True, text=True, timeout=300, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            raise UserError(f"NIVALIS_NATIVE=1: running {cc} failed ({exc}); {_OFF}") from None
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
            raise UserError(f"NIVALIS_NATIVE=1: {Path(cc).name} failed to build the LSTM cell: {last}; {_OFF}")
        digest = _sha256(tmp)
    atomic_write_text(target.with_name(target.name + ".sha256"), digest + "\n")
    if not _verified(target):  # another process replaced it in between: never load what was not verified
        raise UserError(f"NIVALIS_NATIVE=1: {target} changed while it was being built; run again or {_OFF}")
    return target


def _bind(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    i64, ptr, flag = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int
    lib.nv_lstm_forward.argtypes = [i64, i64, ptr, flag, i64, ptr, ptr, ptr, ptr, ptr, ptr, flag, i64]
    lib.nv_lstm_forward.restype = None
    lib.nv_lstm_backward.argtypes = [i64, i64, ptr, flag, i64, ptr, ptr, ptr, ptr, ptr, ptr, ptr, flag, i64, ptr]
    lib.nv_lstm_backward.restype = None
    return lib


@torch.inference_mode(False)
@torch.enable_grad()
def _self_test(lib: ctypes.CDLL) -> None:
    """One forward and backward step on random numbers against the same equations in float64 PyTorch.

    Runs with autograd on whatever the caller's mode: the first use is often inside ``torch.no_grad()`` or
    ``torch.inference_mode()`` (prediction), where the reference's backward would fail and wrongly reject
    the library.
    """
    gen = torch.Generator().manual_seed(0)
    rows, hidden = 5, 24
    z = torch.randn(rows, 4 * hidden, generator=gen) * 3
    c_prev = torch.randn(rows, hidden, generator=gen)
    w_c = torch.randn(3, hidden, generator=gen) * 0.5
    gates, cells, tanh_c = torch.empty(rows, 4, hidden), torch.empty(rows, hidden), torch.empty(rows, hidden)
    h = torch.empty(rows, hidden)
    _forward(lib, z, c_prev, w_c, gates, cells, tanh_c, h)
    zd, cp, wc = z.double().view(rows, 4, hidden), c_prev.double(), w_c.double()
    i = torch.sigmoid(zd[:, 0] + wc[0] * cp)
    f = torch.sigmoid(zd[:, 1] + wc[1] * cp)
    g = torch.tanh(zd[:, 2])
    c = f * cp + i * g
    o = torch.sigmoid(zd[:, 3] + wc[2] * c)
    want = o * torch.tanh(c)
    dh, dc = torch.randn(rows, hidden, generator=gen), torch.randn(rows, hidden, generator=gen)
    dz, peep = torch.empty(rows, 4 * hidden), torch.zeros(3, hidden, dtype=torch.float64)
    dc_prev = dc.clone()
    _backward(lib, dh, dc_prev, gates, cells, tanh_c, c_prev, w_c, dz, peep)
    leaves = [t.detach().requires_grad_() for t in (zd.clone(), cp.clone(), wc.clone())]
    zl, cl, wl = leaves
    il, fl = torch.sigmoid(zl[:, 0] + wl[0] * cl), torch.sigmoid(zl[:, 1] + wl[1] * cl)
    cn = fl * cl + il * torch.tanh(zl[:, 2])
    hn = torch.sigmoid(zl[:, 3] + wl[2] * cn) * torch.tanh(cn)
    torch.autograd.backward([hn, cn], [dh.double(), dc.double()])
    checks = {"H": (h, want), "C": (cells, c), "dZ": (dz, zl.grad.view(rows, -1)), "dC": (dc_prev, cl.grad),
              "dw_c": (peep, wl.grad)}
    for name, (got, ref) in checks.items():
        err = (got.double() - ref).abs().max().item()
        if not err <= 1e-5 * max(1.0, ref.abs().max().item()):
            raise RuntimeError(f"self-test: {name} differs from PyTorch by {err:.3g}")


def library() -> ctypes.CDLL | None:
    """The compiled cell, built, verified and self-tested on first call; None unless ``NIVALIS_NATIVE=1``.

    Raises `UserError` (the same one on every later call) where the cell was asked for and cannot be used.
    """
    if not enabled():
        return None
    if not _state["tried"]:
        with _lock:
            if not _state["tried"]:
                try:
                    cc = _compiler()
                    if cc is None:
                        raise UserError(f"NIVALIS_NATIVE=1 but no C compiler ($CC, cc, gcc or clang) is on PATH; "
                                        f"install one or {_OFF}")
                    lib = _bind(_build(cc, cache_dir()))
                    try:
                        _self_test(lib)
                    except RuntimeError as exc:
                        raise UserError(f"NIVALIS_NATIVE=1: the compiled LSTM cell failed its {exc}; {_OFF}") from None
                    _state["lib"] = lib
                except UserError as exc:
                    _state["error"] = exc
                except OSError as exc:  # a library the loader rejects
                    _state["error"] = UserError(f"NIVALIS_NATIVE=1: cannot load the compiled LSTM cell ({exc}); "
                                                f"{_OFF}")
                _state["tried"] = True
    if _state["error"] is not None:
        raise _state["error"]  # type: ignore[misc]
    return _state["lib"]  # type: ignore[return-value]


def available() -> bool:
    return library() is not None


def set_enabled(on: bool) -> bool:
    """Turn the compiled cell on or off for this process (tests, benchmarks); returns the previous setting."""
    previous = enabled()
    _state["enabled"] = bool(on)
    return previous


def supports(dtype: torch.dtype, device: torch.device, hidden: int) -> bool:
    """Whether steps of this matmul dtype, device and width can run compiled (bf16 or float32 on the CPU)."""
    return (device.type == "cpu" and dtype in (torch.float32, torch.bfloat16) and hidden <= MAX_HIDDEN
            and available())


def _required_library() -> ctypes.CDLL:
    lib = library()
    if lib is None:
        raise RuntimeError("the compiled LSTM cell is not available")
    return lib


def _rows(t: Tensor) -> tuple[int, int]:
    """(pointer, row stride in elements) of a 2-D tensor whose rows are contiguous (checked by `_check`)."""
    return t.data_ptr(), t.stride(0)


def _forward(lib: ctypes.CDLL, z: Tensor, c_prev: Tensor, w_c: Tensor, gates: Tensor, cells: Tensor,
             tanh_c: Tensor, h_out: Tensor) -> None:
    # one thread: with two, splitting the rows between them measured no faster (the matmuls use both)
    rows, hidden = cells.shape
    z_ptr, z_stride = _rows(z)
    h_ptr, h_stride = _rows(h_out)
    lib.nv_lstm_forward(rows, hidden, z_ptr, int(z.dtype == torch.bfloat16), z_stride, c_prev.data_ptr(),
                        w_c.data_ptr(), gates.data_ptr(), cells.data_ptr(), tanh_c.data_ptr(), h_ptr,
                        int(h_out.dtype == torch.bfloat16), h_stride)


def _backward(lib: ctypes.CDLL, dh: Tensor, dc: Tensor, gates: Tensor, cells: Tensor, tanh_c: Tensor,
              c_prev: Tensor, w_c: Tensor, dz: Tensor, peep: Tensor) -> None:
    rows, hidden = cells.shape
    dh_ptr, dh_stride = _rows(dh)
    dz_ptr, dz_stride = _rows(dz)
    lib.nv_lstm_backward(rows, hidden, dh_ptr, int(dh.dtype == torch.bfloat16), dh_stride, dc.data_ptr(),
                         gates.data_ptr(), cells.data_ptr(), tanh_c.data_ptr(), c_prev.data_ptr(), w_c.data_ptr(),
                         dz_ptr, int(dz.dtype == torch.bfloat16), dz_stride, peep.data_ptr())


def _check(rows: int, hidden: int, state: dict[str, tuple[Tensor, int]], io: dict[str, tuple[Tensor, int]]) -> None:
    """The C code trusts its pointers: every shape, dtype and layout is checked here first.

    ``state``: contiguous float32 CPU tensors of ``rows × width`` values; ``io``: ``[rows, width]`` bf16/float32
    CPU tensors whose rows are contiguous (a row stride is allowed).
    """
    for name, (t, width) in state.items():
        if t.dtype != torch.float32 or not t.is_contiguous() or t.device.type != "cpu" or t.numel() != rows * width:
            raise ValueError(f"{name}: expected a contiguous float32 CPU tensor of {rows}×{width} values, got "
                             f"{t.dtype} {tuple(t.shape)} on {t.device}")
    for name, (t, width) in io.items():
        if (t.dtype not in (torch.float32, torch.bfloat16) or t.device.type != "cpu" or t.dim() != 2
                or tuple(t.shape) != (rows, width) or (t.stride(1) != 1 and width > 1)):
            raise ValueError(f"{name}: expected a [{rows}, {width}] bf16/float32 CPU tensor with contiguous rows, "
                             f"got {t.dtype} {tuple(t.shape)} strides {t.stride()} on {t.device}")


def forward_step(z: Tensor, c_prev: Tensor, w_c: Tensor, gates: Tensor, cells: Tensor, tanh_c: Tensor,
                 h_out: Tensor) -> None:
    """One step's cell equations: ``z [R, 4C]`` (bf16/float32, rows contiguous) → ``gates [R, 4, C]`` (i, f, g,
    o after their nonlinearity), ``cells``, ``tanh_c [R, C]`` and ``h_out [R, C]`` (bf16/float32, rows
    contiguous); ``c_prev [R, C]`` (zeros at the first step), ``w_c [3, C]`` the peepholes (zeros for none)."""
    lib = _required_library()
    rows, hidden = cells.shape
    _check(rows, hidden, {"c_prev": (c_prev, hidden), "gates": (gates, 4 * hidden), "cells": (cells, hidden),
                          "tanh_c": (tanh_c, hidden)}, {"z": (z, 4 * hidden), "h_out": (h_out, hidden)})
    _check(3, hidden, {"w_c": (w_c, hidden)}, {})
    _forward(lib, z, c_prev, w_c, gates, cells, tanh_c, h_out)


def backward_step(dh: Tensor, dc: Tensor, gates: Tensor, cells: Tensor, tanh_c: Tensor, c_prev: Tensor,
                  w_c: Tensor, dz: Tensor, peep: Tensor) -> None:
    """Backward of `forward_step`: ``dh [R, C]`` (bf16/float32, rows contiguous) and ``dc`` (dC_t in, dC_{t-1}
    out, in place) → ``dz [R, 4C]`` (bf16/float32, rows contiguous); the peephole gradients are added to
    ``peep [3, C]`` (float64)."""
    lib = _required_library()
    rows, hidden = cells.shape
    _check(rows, hidden, {"dc": (dc, hidden), "gates": (gates, 4 * hidden), "cells": (cells, hidden),
                          "tanh_c": (tanh_c, hidden), "c_prev": (c_prev, hidden)},
           {"dh": (dh, hidden), "dz": (dz, 4 * hidden)})
    _check(3, hidden, {"w_c": (w_c, hidden)}, {})
    if peep.dtype != torch.float64 or not peep.is_contiguous() or peep.numel() != 3 * hidden:
        raise ValueError(f"peep: expected a contiguous float64 tensor of 3×{hidden} values")
    _backward(lib, dh, dc, gates, cells, tanh_c, c_prev, w_c, dz, peep)


__all__ = ["MAX_HIDDEN", "SOURCE", "available", "backward_step", "cache_dir", "enabled", "forward_step", "library",
           "set_enabled", "supports"]
