"""The LSTM cell's pointwise equations as one compiled pass per step, for `lstm_recurrence` on the CPU.

`lstm_recurrence` (`nivalis.layers.graph_conv_lstm`) runs each step of a (graph) LSTM as one matmul followed
by the cell equations

.. math::
    \\mathbf{I} = \\sigma(\\mathbf{Z}_i + \\mathbf{w}_{ci} \\odot \\mathbf{C}_{t-1}), \\;
    \\mathbf{F} = \\sigma(\\mathbf{Z}_f + \\mathbf{w}_{cf} \\odot \\mathbf{C}_{t-1}), \\;
    \\mathbf{G} = \\tanh \\mathbf{Z}_c, \\;
    \\mathbf{C}_t = \\mathbf{F} \\odot \\mathbf{C}_{t-1} + \\mathbf{I} \\odot \\mathbf{G}, \\;
    \\mathbf{O} = \\sigma(\\mathbf{Z}_o + \\mathbf{w}_{co} \\odot \\mathbf{C}_t), \\;
    \\mathbf{H}_t = \\mathbf{O} \\odot \\tanh \\mathbf{C}_t

and their backward. In PyTorch every term is a separate pass over the ``[B·N, 4C]`` gate tensor (tens of MB
for a batch of 32 radargrams), and memory traffic, not arithmetic, bounds them. `lstm_cell.c` does a step's
equations, forward or backward, in one pass: each row is read and written once, and the compiler vectorises
the channel loops. On the 2-core CI machine (bf16, one thread, batch 32 radargrams) a step's cell equations
took about 2 ms instead of about 9 ms; a training epoch of the snow GCN-LSTM ran 1.43× faster (2.10 → 1.47 s)
and of the LSTM 1.34× (1.14 → 0.85 s) (`benchmarks/snow_epoch.py` prints both paths), and seed 000's full
protocol (two workers, on a campaign of 508 usable radargrams) went from 22 min 19 s to 18 min 3 s, with
Table II's ranking. The matmuls are now most of an epoch.

The C file is compiled on first use (about half a second) with the machine's C compiler (``$CC``, else
``cc``, ``gcc`` or ``clang``) into a per-user cache, ``$NIVALIS_CACHE`` or ``~/.cache/nivalis``, keyed by
the source, the compiler and the CPU, so it is compiled once per machine. The library must then pass a
numeric self-test against PyTorch. Without a compiler, when the build or the self-test fails, or with
``NIVALIS_NATIVE=0``, `available` is False and `lstm_recurrence` does the same equations op by op in
PyTorch (one warning says why). Either way the results agree to float32 rounding
(``tests/layers/test_native_lstm.py``).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import torch
from torch import Tensor

SOURCE = Path(__file__).with_name("lstm_cell.c")
MAX_HIDDEN = 1024  # the C code keeps a row's gates on the stack
# tuned for the machine it runs on: without -march=native the loops vectorise for SSE2 only and lose to PyTorch
_FLAGS = ("-O3", "-march=native", "-fopenmp-simd")
_log = logging.getLogger(__name__)
_lock = threading.Lock()
_state: dict[str, object] = {"lib": None, "tried": False, "enabled": os.environ.get("NIVALIS_NATIVE", "1") != "0"}


def _compiler() -> str | None:
    for name in (os.environ.get("CC", ""), "cc", "gcc", "clang"):
        path = shutil.which(name.split()[0]) if name.strip() else None
        if path:
            return path
    return None


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
    root = os.environ.get("NIVALIS_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                            os.path.expanduser("~/.cache"), "nivalis")
    return Path(root) / "native"


def _build(cc: str, out_dir: Path) -> Path:
    """Compile `SOURCE` into `out_dir` (atomically: a temp file, then `os.replace`); the cached path."""
    stat = os.stat(cc)
    key = hashlib.sha256(b"\0".join([SOURCE.read_bytes(), cc.encode(), str((stat.st_size, stat.st_mtime_ns)).encode(),
                                     " ".join(_FLAGS).encode(), _cpu_signature().encode()])).hexdigest()[:20]
    target = out_dir / f"lstm_cell-{key}.so"
    if target.exists():
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".lstm_cell-", suffix=".so", dir=out_dir)
    os.close(fd)
    try:
        proc = subprocess.run([cc, *_FLAGS, "-fPIC", "-shared", "-o", tmp, str(SOURCE)], capture_output=True,
                              text=True, timeout=300)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
            raise RuntimeError(f"{Path(cc).name} failed: {last}")
        os.replace(tmp, target)
        return target
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
    """The compiled cell (built and self-tested on first call), or None where it cannot be used."""
    if not _state["enabled"]:
        return None
    if _state["tried"]:
        return _state["lib"]  # type: ignore[return-value]
    with _lock:
        if not _state["tried"]:
            cc = _compiler()
            try:
                if cc is None:
                    raise RuntimeError("no C compiler (cc, gcc or clang) on PATH")
                try:
                    path = _build(cc, cache_dir())
                except OSError:  # an unwritable cache: build where this user can write
                    path = _build(cc, Path(tempfile.gettempdir()) / f"nivalis-native-{os.getuid()}")
                lib = _bind(path)
                _self_test(lib)
                _state["lib"] = lib
            except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as exc:
                _log.warning("compiled LSTM cell unavailable (%s); the recurrence runs op by op in PyTorch", exc)
            _state["tried"] = True
    return _state["lib"]  # type: ignore[return-value]


def available() -> bool:
    return library() is not None


def set_enabled(enabled: bool) -> bool:
    """Turn the compiled cell on or off for this process (tests, benchmarks); returns the previous setting."""
    previous = bool(_state["enabled"])
    _state["enabled"] = bool(enabled)
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


__all__ = ["MAX_HIDDEN", "SOURCE", "available", "backward_step", "cache_dir", "forward_step", "library",
           "set_enabled", "supports"]
