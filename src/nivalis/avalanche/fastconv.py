"""Fast exact evaluation of a dense window network: polyphase components and fast-convolution kernels.

**Polyphase identity.** A stride-1 conv (or max pool) with dilation :math:`d` is a plain one on each of the
:math:`d^2` polyphase components :math:`x_{ab}[i, j] = x[a + d i,\\; b + d j]`
(:math:`0 \\le a, b < d`):

.. math::
    y[a + d i,\\; b + d j] = \\sum_{k, l} w[k, l]\\, x[a + d(i + k),\\; b + d(j + l)]
                          = (w \\star x_{ab})[i, j].

So the dense net's dilated tail (dilation 2, then 4) runs undilated on components: before the first layer
with dilation 2 the map is split into its 2 × 2 components, before the dilation-4 head each of those into
2 × 2 again, each component goes through the rest of the network on its own, and the outputs are
interleaved back (`phases`, `interleave`). A map whose side is not a multiple of the split factor is
zero-padded first; the padding only reaches outputs past the valid size, which are cropped. Pointwise
layers (ReLU, BN) commute with the split. Besides removing the dilation, the components are small maps,
which the allocator reuses instead of mapping fresh pages for every whole-tile map.

**Fast convolution.** Large undilated convs then go to NNPACK (`torch._nnpack_spatial_convolution`, part
of PyTorch's CPU build), which computes a valid stride-1 conv with fewer multiplications by transforming
tiles: Winograd minimal filtering (Lavin & Gray 2016) for 3 × 3 kernels,

.. math::
    Y = A^T \\Big[ \\sum_c (G\\, g_{kc}\\, G^T) \\odot (B^T d_c\\, B) \\Big] A

(filter transforms :math:`G g G^T` per output/input channel pair, input tile transforms :math:`B^T d B`,
the channel sum as one matrix product per transform point, output transform :math:`A^T \\cdot A`), and FFT
tiles (the same form with the DFT as transform) for larger kernels, NNPACK choosing the algorithm. The
result equals the direct convolution within fp32 rounding. Only convs with kernels of at least
`MIN_KERNEL` and `MIN_CHANNEL_PAIRS` channel pairs use it (the 5 × 5 head): on the 3 × 3 layers it was
no faster than oneDNN's direct conv. A pure PyTorch Winograd (tile gather, transform matmuls, one batched
matrix product per transform point) was slower than the direct conv here: its transforms are passes
over memory several times the size of the map. Where NNPACK is missing or fails, `F.conv2d` runs.

**Channels-last maps.** With `CHANNELS_LAST` (the default) the fast path hands its direct convs NHWC maps, the
layout oneDNN's direct kernels compute in without reordering their input and output; the polyphase components keep
the layout of the map they are taken from (a component's pixel is one contiguous run of channels, so the split
copies runs, not single floats), except the components of a layer that goes to NNPACK, which takes NCHW only: they
are copied into NCHW as they are split. 1 × 1 convs are one matrix product over the pixels.

**Freed pages kept.** glibc serves every allocation above its mmap threshold (128 KiB, rising to at most 32 MiB) with
fresh pages from the kernel and unmaps them on free, so each feature map of a large tile page-faults its memory in
again for every tile. `keep_freed_pages` raises the threshold (and the heap's trim threshold) to 1 GiB, so freed
maps are reused by the next tile; `release_freed_pages` hands them back to the kernel when the map is done and puts
glibc's initial thresholds back (`freed_pages_kept` does both around a map).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys

import torch
import torch.nn.functional as F

# Convs with a kernel of at least MIN_KERNEL × MIN_KERNEL and at least MIN_CHANNEL_PAIRS (input × output)
# channel pairs go to NNPACK; the window CNN's 3 × 3 layers are as fast or faster direct.
MIN_KERNEL = 5
MIN_CHANNEL_PAIRS = 512

_nnpack_ok: bool | None = None

#: run the direct (oneDNN) convs of the fast path on channels-last (NHWC) maps
CHANNELS_LAST = True


#: glibc's mallopt parameters (malloc.h), the thresholds `keep_freed_pages` sets and glibc's defaults it restores
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
KEEP_BYTES = 1 << 30
GLIBC_DEFAULT_BYTES = 128 * 1024
_depth, _kept = 0, False


def _glibc(name: str):
    """glibc's function `name` on Linux (None elsewhere, or where the C library has no such function: musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name, None)
    except OSError:
        return None


def _thresholds(nbytes: int) -> bool:
    mallopt = _glibc("mallopt")
    return mallopt is not None and bool(mallopt(_M_MMAP_THRESHOLD, nbytes)) and bool(mallopt(_M_TRIM_THRESHOLD, nbytes))


def keep_freed_pages() -> bool:
    """Serve allocations below `KEEP_BYTES` from glibc's heap and keep up to that much freed memory for reuse
    (see the module docstring); True where it took effect (glibc on Linux), False elsewhere."""
    return _thresholds(KEEP_BYTES)


def release_freed_pages() -> bool:
    """Give the heap's free pages back to the kernel (glibc's `malloc_trim`) and restore glibc's default thresholds
    (fixed at their initial values), so the pages kept for the next tile do not add to what the later stages (COG
    copies, polygons) or the rest of the process hold; True where it ran."""
    trim = _glibc("malloc_trim")
    return trim is not None and trim(0) >= 0 and _thresholds(GLIBC_DEFAULT_BYTES)


@contextlib.contextmanager
def freed_pages_kept():
    """`keep_freed_pages` for the duration of a map, `release_freed_pages` when the outermost one ends (also on an
    error) if the pages were kept; yields whether they are."""
    global _depth, _kept
    _depth += 1
    try:
        if _depth == 1:
            _kept = keep_freed_pages()
        yield _kept
    finally:
        _depth -= 1
        if _depth == 0 and _kept:
            release_freed_pages()


def nnpack_available() -> bool:
    """Whether NNPACK is built in and initialised (the first call initialises it)."""
    global _nnpack_ok
    if _nnpack_ok is None:
        try:
            _nnpack_ok = bool(torch.backends.nnpack.is_available())
        except Exception:
            _nnpack_ok = False
    return _nnpack_ok


def conv2d_valid(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """`F.conv2d(x, weight, bias)` (stride 1, no padding, no dilation, groups 1): by NNPACK when it is
    available and the layer is large enough to gain (`MIN_KERNEL`, `MIN_CHANNEL_PAIRS`), 1 × 1 convs as a
    matrix product, else direct."""
    k_out, c_in, kh, kw = weight.shape
    if kh == kw == 1 and x.dtype == weight.dtype and not torch.is_grad_enabled():
        return conv1x1(x, weight, bias)
    if goes_to_nnpack(x, weight):
        try:
            if bias is None:
                bias = torch.zeros(k_out, dtype=x.dtype)
            return torch._nnpack_spatial_convolution(x.contiguous(), weight.contiguous(), bias, [0, 0])
        except RuntimeError:
            pass
    return F.conv2d(x, weight, bias)


def goes_to_nnpack(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether `conv2d_valid` hands this conv to NNPACK (fp32 CPU, no autograd, a large enough layer)."""
    k_out, c_in, kh, kw = weight.shape
    return (x.dtype == torch.float32 and weight.dtype == torch.float32 and x.device.type == "cpu"
            and min(kh, kw) >= MIN_KERNEL and k_out * c_in >= MIN_CHANNEL_PAIRS and not torch.is_grad_enabled()
            and nnpack_available())


def phases(x: torch.Tensor, g: int, layout: torch.memory_format | None = None) -> list[torch.Tensor]:
    """The g × g polyphase components x[..., a::g, b::g] of [N, C, H, W] (row-major over (a, b)), each
    contiguous in `layout` (None: the map's own) and zero-padded to ⌈H/g⌉ × ⌈W/g⌉."""
    h, w = x.shape[-2:]
    hh, ww = -(-h // g), -(-w // g)
    if layout is None:
        layout = torch.channels_last if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) \
            and not x.is_contiguous() else torch.contiguous_format
    if not (h % g or w % g):
        return [x[..., a::g, b::g].contiguous(memory_format=layout) for a in range(g) for b in range(g)]
    parts = []
    for a in range(g):
        for b in range(g):
            src = x[..., a::g, b::g]  # one copy into the padded component (no padded copy of the whole map first)
            part = torch.empty((*x.shape[:-2], hh, ww), dtype=x.dtype, device=x.device, memory_format=layout)
            part[..., :src.shape[-2], :src.shape[-1]] = src
            part[..., src.shape[-2]:, :] = 0
            part[..., :, src.shape[-1]:] = 0
            parts.append(part)
    return parts


def interleave(parts: list[torch.Tensor], g: int) -> torch.Tensor:
    """The inverse of `phases` (without the crop): [N, C, h, w] × g² → [N, C, g·h, g·w]."""
    n, c, h, w = parts[0].shape
    out = parts[0].new_empty(n, c, h * g, w * g)
    for k, part in enumerate(parts):
        out[..., k // g::g, k % g::g] = part
    return out


def conv1x1(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """A 1 × 1 conv as one matrix product per image (oneDNN is slow for a single output channel)."""
    n, c, h, w = x.shape
    if c > 1 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        out = torch.matmul(x.permute(0, 2, 3, 1), weight.reshape(weight.shape[0], c).t())  # [N, H, W, K]
        if bias is not None:
            out += bias
        return out.permute(0, 3, 1, 2)
    out = torch.matmul(weight.reshape(weight.shape[0], c), x.reshape(n, c, h * w))
    if bias is not None:
        out += bias.view(1, -1, 1)
    return out.view(n, -1, h, w)


def max_pool_valid(x: torch.Tensor, kernel: tuple[int, int]) -> torch.Tensor:
    """Stride-1 valid max pool as running maxima of shifted views (rows, then columns)."""
    kh, kw = kernel
    h = x.shape[-2] - kh + 1
    out = x[..., 0:h, :]
    for a in range(1, kh):
        out = torch.maximum(out, x[..., a:a + h, :])
    w = x.shape[-1] - kw + 1
    res = out[..., :, 0:w]
    for b in range(1, kw):
        res = torch.maximum(res, out[..., :, b:b + w])
    return res
