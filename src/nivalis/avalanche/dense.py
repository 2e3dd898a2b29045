"""Dense evaluation: the probability of every pixel from one fully convolutional pass, tiled, exact.

Window-by-window classification computes, for every pixel, :math:`p_{ij} = \\sigma(f(X_{ij}))` with
:math:`X_{ij}` the window of `windows.py`; neighbouring windows share almost all their pixels, so it
repeats the same convolutions :math:`h^2` times. A network made of valid (un-padded) convolutions,
un-padded max pooling and a fully connected head can instead run once over the padded image, provided
it is converted so that output position :math:`(i, j)` is exactly :math:`f(X_{ij})`:

* every stride-:math:`s` pooling becomes stride 1, and every later layer is dilated by the product
  :math:`D` of the strides before it (the *à trous* / shift-and-stitch trick of OverFeat and
  Long et al.'s FCN), i.e. for a conv after pools of strides :math:`s_1 \\dots s_k`

  .. math::
      y[i, j] = \\sum_{a, b} W[a, b]\\, x[i + D a,\\; j + D b],\\qquad D = \\textstyle\\prod_l s_l;

* eval-mode BatchNorm after a conv is folded into it (:math:`w' = w\\gamma/\\sigma`,
  :math:`b' = (b - \\mu)\\gamma/\\sigma + \\beta`), which saves a pass over every feature map;
* the head's first Linear layer over the flattened :math:`C \\times S \\times S` map becomes a conv with an
  :math:`S \\times S` kernel (same weights, reshaped) dilated by :math:`D`; later Linear layers become 1×1
  convs; BatchNorm (running statistics), ReLU and Dropout (eval) are pointwise and stay as they are.

The conversion is done once per prediction from the eval-mode classifier. The map is computed in tiles: an
output tile of :math:`T \\times T` pixels needs the padded input tile of :math:`(T + h - 1)^2` pixels
(overlap :math:`h - 1`), so every tile is exact and memory is bounded by the tile, whatever the image
size. Cut zoo backbones (`backbone.py`) have their own exact à trous form; whole zoo backbones (padded,
strided layers ending in global pooling: not shift-equivariant) fall back to batched windows;
a segmentation network (`unet`) is run on overlapping tiles whose margins are cropped.

In eval-mode CPU inference without gradients (fp32, or under bf16 autocast), `DenseWindowNet` runs its dilated
layers on polyphase components, in fp32 the large kernels (the 5 × 5 head) by a fast-convolution kernel (NNPACK's
transformed tiles, `fastconv.py`), with the same result within fp32 rounding; `fast=False` keeps the direct path.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from nivalis.avalanche import fastconv
from nivalis.avalanche.io.raster import to_channels
from nivalis.avalanche.models import WindowClassifier
from nivalis.avalanche.windows import pad_image, window_view
from nivalis.engine import autocast_for
from nivalis.errors import UserError
from nivalis.progress import bar

_POINTWISE = (nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.SiLU, nn.GELU, nn.Hardswish, nn.Tanh,
              nn.Sigmoid, nn.Identity, nn.Dropout, nn.Dropout2d)


class NotDenseConvertible(ValueError):
    """The network has a layer that has no exact fully convolutional form."""


class _DilatedConv(nn.Module):
    """A stride-1 conv with dilation; `fold(bn)` absorbs an eval-mode BatchNorm that follows it."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, dilation: tuple[int, int], groups: int = 1):
        super().__init__()
        self.register_buffer("weight", weight.detach().clone())
        self.register_buffer("bias", None if bias is None else bias.detach().clone())
        self.dilation, self.groups = dilation, groups

    def fold(self, bn: nn.BatchNorm2d) -> None:
        # BN(conv(x)) = γ (w * x + b − μ) / σ + β  →  w' = w γ/σ,  b' = (b − μ) γ/σ + β
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps) if bn.affine else \
            1.0 / torch.sqrt(bn.running_var + bn.eps)
        shift = bn.bias.detach() if bn.affine else torch.zeros_like(scale)
        bias = self.bias if self.bias is not None else torch.zeros_like(scale)
        self.weight = self.weight * scale.view(-1, 1, 1, 1)
        self.bias = (bias - bn.running_mean) * scale + shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, 1, 0, self.dilation, self.groups)


class _DilatedMaxPool(nn.Module):
    """Max pool with stride 1 and dilation, as running maxima of shifted views (much faster than
    max_pool2d with dilation on CPU, and separable: rows, then columns)."""

    def __init__(self, kernel: tuple[int, int], dilation: tuple[int, int]):
        super().__init__()
        self.kernel, self.dilation = kernel, dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (dh, dw) = self.kernel, self.dilation
        h = x.shape[-2] - (kh - 1) * dh
        out = x[..., 0:h, :]
        for a in range(1, kh):
            out = torch.maximum(out, x[..., a * dh:a * dh + h, :])
        w = x.shape[-1] - (kw - 1) * dw
        res = out[..., :, 0:w]
        for b in range(1, kw):
            res = torch.maximum(res, out[..., :, b * dw:b * dw + w])
        return res


class _LinearAsConv(nn.Module):
    """A Linear layer over a flattened C × S1 × S2 map, applied at every position as a dilated conv."""

    def __init__(self, linear: nn.Linear, in_shape: tuple[int, int, int], dilation: tuple[int, int]):
        super().__init__()
        self.linear, self.in_shape, self.dilation = linear, in_shape, dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.linear.weight.view(self.linear.out_features, *self.in_shape)
        return F.conv2d(x, weight, self.linear.bias, 1, 0, self.dilation)


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _leaves(module: nn.Module):
    children = list(module.children())
    if not children:
        yield module
    for child in children:
        yield from _leaves(child)


class DenseWindowNet(nn.Module):
    """The fully convolutional form of a window network with `features` and `head` (see the module docstring).

    Input: a prepared padded tile [N, C, T + h − 1, T' + h − 1]; output: logits [N, 1, ≥T, ≥T'] whose
    top-left T × T' block is the window-by-window output (extra rows/columns appear when pooling
    floors drop the window's last pixels, i.e. the receptive field is smaller than h; they are cropped).
    `forward(x, hidden=True)` also returns the activations entering the last layer.

    `fast` (default: on where the dilations allow it) runs eval-mode CPU inference without gradients
    (no_grad / inference_mode) on polyphase components with fast conv kernels (`_forward_polyphase`); under CPU
    autocast (bf16) the components' convs run in its dtype, undilated (a dilated bf16 conv without native kernels
    unfolds the whole tile: several times the tile's memory), and NNPACK only takes fp32. Set it to False for the
    direct path.
    """

    def __init__(self, net: nn.Module, window: int, channels: int):
        super().__init__()
        if not (hasattr(net, "features") and hasattr(net, "head")):
            raise NotDenseConvertible(f"{type(net).__name__} has no features/head split")
        layers: list[nn.Module] = []
        dil = (1, 1)
        for m in _leaves(net.features):
            if isinstance(m, nn.Conv2d):
                if _pair(m.stride) != (1, 1) or _pair(m.padding) != (0, 0) or _pair(m.dilation) != (1, 1):
                    raise NotDenseConvertible(f"conv {m} is strided, padded or dilated")
                layers.append(_DilatedConv(m.weight, m.bias, dil, m.groups))
            elif isinstance(m, nn.MaxPool2d):
                k, s = _pair(m.kernel_size), _pair(m.stride or m.kernel_size)
                if _pair(m.padding) != (0, 0) or _pair(m.dilation) != (1, 1) or m.ceil_mode:
                    raise NotDenseConvertible(f"pool {m} is padded, dilated or ceil-mode")
                layers.append(_DilatedMaxPool(k, dil))
                dil = (dil[0] * s[0], dil[1] * s[1])
            elif isinstance(m, nn.BatchNorm2d) and layers and isinstance(layers[-1], _DilatedConv) \
                    and m.track_running_stats:
                layers[-1].fold(m)
            elif isinstance(m, _POINTWISE):
                layers.append(m)
            else:
                raise NotDenseConvertible(f"layer {type(m).__name__} has no exact dense form")
        with torch.no_grad():
            was = net.training
            net.eval()
            feature_shape = tuple(net.features(torch.zeros(1, channels, window, window)).shape[1:])
            net.train(was)
        head = list(_leaves(net.head))
        if not head or not isinstance(head[0], nn.Flatten):
            raise NotDenseConvertible("the head must start with Flatten")
        first_linear = True
        for m in head[1:]:
            if isinstance(m, nn.Linear):
                if first_linear:
                    layers.append(_LinearAsConv(m, feature_shape, dil))
                    first_linear = False
                else:
                    layers.append(_LinearAsConv(m, (m.in_features, 1, 1), (1, 1)))
            elif isinstance(m, _POINTWISE):
                layers.append(m)
            else:
                raise NotDenseConvertible(f"head layer {type(m).__name__} has no exact dense form")
        self.body = nn.ModuleList(layers[:-1])
        self.last = layers[-1]
        if not isinstance(self.last, _LinearAsConv):
            raise NotDenseConvertible("the head must end with a Linear layer")
        self.fast = _polyphase_ok(layers)

    def forward(self, x: torch.Tensor, hidden: bool = False):
        if self.fast and not torch.is_grad_enabled() and x.dtype == torch.float32 and x.device.type == "cpu" \
                and not self._stateful_in_training():
            return self._forward_polyphase(x, hidden)
        for layer in self.body:
            x = layer(x)
        out = self.last(x)
        return (out, x) if hidden else out

    def _stateful_in_training(self) -> bool:
        """Whether a layer that behaves differently in training (unfolded BatchNorm: batch statistics,
        Dropout: masks) is in training mode (the layers are the classifier's own; `predict_probability`
        sets the classifier, not this wrapper, to eval)."""
        return any(m.training for m in self.modules() if isinstance(m, (nn.BatchNorm2d, nn.Dropout, nn.Dropout2d)))

    def _forward_polyphase(self, x: torch.Tensor, hidden: bool):
        """The same map as `forward`'s direct path: each dilated layer runs undilated on the polyphase
        components of its input, large convs by `fastconv.conv2d_valid` (see `fastconv.py`).

        A layer whose dilation exceeds the current split factor splits each component into sub-components
        that go through the rest of the network one at a time (smaller maps than the whole tile: less
        memory and no page faults from fresh large allocations); their outputs are interleaved back.
        """
        height = x.shape[-2] - sum(d[0] * (k[0] - 1) for k, d in map(_kernel_dilation, [*self.body, self.last]))
        width = x.shape[-1] - sum(d[1] * (k[1] - 1) for k, d in map(_kernel_dilation, [*self.body, self.last]))
        if fastconv.CHANNELS_LAST:
            x = x.contiguous(memory_format=torch.channels_last)
        out, hid = self._run_component(x, 0, 1, hidden)
        out = out[..., :height, :width]
        if hidden:
            (kh, kw), (dh, dw) = _kernel_dilation(self.last)
            return out, hid[..., :height + dh * (kh - 1), :width + dw * (kw - 1)]
        return out

    def _run_component(self, x: torch.Tensor, start: int, f: int, hidden: bool):
        """Layers `start`… on one component at split factor `f`; returns (output, input of the last layer)."""
        layers = [*self.body, self.last]
        hid = None
        for i in range(start, len(layers)):
            layer = layers[i]
            kernel, dil = _kernel_dilation(layer)
            if kernel != (1, 1) and dil[0] != f:
                g = dil[0] // f
                # the components of a layer that NNPACK computes are split straight into its NCHW layout
                weight = _conv_weight(layer)
                nchw = weight is not None and fastconv.goes_to_nnpack(x, weight)
                subs = fastconv.phases(x, g, torch.contiguous_format if nchw else None)
                results = [self._run_component(sub, i, f * g, hidden) for sub in subs]
                out = fastconv.interleave([r[0] for r in results], g)
                if hidden and i < len(layers) - 1:
                    hid = fastconv.interleave([r[1] for r in results], g)
                elif hidden:
                    hid = x
                return out, hid
            if i == len(layers) - 1:
                hid = x if hidden else None
            if isinstance(layer, _DilatedConv):
                if layer.groups == 1:
                    x = fastconv.conv2d_valid(x, layer.weight, layer.bias)
                else:
                    x = F.conv2d(x, layer.weight, layer.bias, 1, 0, 1, layer.groups)
            elif isinstance(layer, _LinearAsConv):
                bias = None if layer.linear.bias is None else layer.linear.bias.detach()
                x = fastconv.conv2d_valid(x, _conv_weight(layer), bias)
            elif isinstance(layer, _DilatedMaxPool):
                x = fastconv.max_pool_valid(x, layer.kernel)
            else:
                x = layer(x)
        return x, hid


def _conv_weight(layer: nn.Module) -> torch.Tensor | None:
    """The [K, C, kh, kw] weight of a dense conv layer (a Linear's as a conv), None for other layers; detached: a
    weight that requires grad sends matmul down a slow path even without autograd."""
    if isinstance(layer, _DilatedConv):
        return layer.weight
    if isinstance(layer, _LinearAsConv):
        return layer.linear.weight.detach().view(layer.linear.out_features, *layer.in_shape)
    return None


def _kernel_dilation(layer: nn.Module) -> tuple[tuple[int, int], tuple[int, int]]:
    """(kernel, dilation) of a dense layer; pointwise layers are ((1, 1), (1, 1))."""
    if isinstance(layer, _DilatedConv):
        return tuple(layer.weight.shape[-2:]), layer.dilation
    if isinstance(layer, _LinearAsConv):
        return tuple(layer.in_shape[1:]), layer.dilation
    if isinstance(layer, _DilatedMaxPool):
        return layer.kernel, layer.dilation
    return (1, 1), (1, 1)


def _polyphase_ok(layers: list[nn.Module]) -> bool:
    """Whether the polyphase path applies: square dilations, each a multiple of the one before (the
    components are only ever split further, never merged back mid-way)."""
    f = 1
    for layer in layers:
        kernel, dil = _kernel_dilation(layer)
        if kernel == (1, 1):
            continue
        if dil[0] != dil[1] or dil[0] % f:
            return False
        f = dil[0]
    return True


def dense_net(classifier: WindowClassifier) -> DenseWindowNet | None:
    """The exact fully convolutional form of `classifier`, or None when it has none (uncut zoo backbones)."""
    from nivalis.avalanche.backbone import BackboneWindowNet, DenseBackboneNet

    if isinstance(classifier.net, BackboneWindowNet):
        return DenseBackboneNet(classifier.net, classifier.channels)
    try:
        return DenseWindowNet(classifier.net, classifier.window, classifier.channels)
    except NotDenseConvertible:
        return None


def _check_image(classifier: WindowClassifier, image: np.ndarray, where: str) -> np.ndarray:
    if image.ndim == 2:
        image = image[..., None]
    expected = getattr(classifier, "input_dtype", "uint8")
    if image.ndim != 3 or image.dtype.name != expected:
        raise UserError(f"{where}: expected a {expected} [H, W] or [H, W, C] image (the model's input type), "
                        f"got {image.dtype} {list(image.shape)}")
    return to_channels(image, classifier.channels, where)


@torch.inference_mode()
def predict_probability(classifier: WindowClassifier, image: np.ndarray, *, tile: int = 512, precision: str = "fp32",
                        features: bool = False, desc: str = "dense map", where: str = "image",
                        window_batch: int = 512):
    """P(avalanche) of every pixel, [H, W] float32 — equal to window-by-window σ(f(X_ij)) (within 1e-4 in fp32).

    Exact networks run fully convolutionally on tiles of `tile` × `tile` output pixels (input overlap h − 1);
    others (zoo backbones) fall back to `predict_windows`. With `features=True` also returns the
    activations entering the last layer, [H, W, F] (the XGBoost head's and PCA's inputs).
    """
    image = _check_image(classifier, image, where)
    classifier.eval()
    if getattr(classifier, "per_pixel", False):
        if features:
            raise UserError(f"model {classifier.model_name!r} is a segmentation network: no window features")
        return predict_segmentation(classifier, image, tile=tile, precision=precision, desc=desc)
    net = dense_net(classifier)
    if net is None:
        if features:
            raise UserError(f"model {classifier.model_name!r} has no dense form to take features from")
        return predict_windows(classifier, image, batch_size=window_batch, precision=precision, desc=desc)
    h = classifier.window
    height, width = image.shape[:2]
    padded = pad_image(image, h)
    out = np.empty((height, width), np.float32)
    hidden_map = None
    tile = max(16, min(int(tile), getattr(net, "max_tile", int(tile))))
    n_tiles = math.ceil(height / tile) * math.ceil(width / tile)
    progress = bar(n_tiles, desc)
    with fastconv.freed_pages_kept():  # the tiles' maps reuse each other's pages
        for r0 in range(0, height, tile):
            for c0 in range(0, width, tile):
                th, tw = min(tile, height - r0), min(tile, width - c0)
                x = classifier.prepare(padded[None, r0:r0 + th + h - 1, c0:c0 + tw + h - 1])
                with autocast_for(precision):
                    logits, hid = net(x, hidden=True) if features else (net(x), None)
                out[r0:r0 + th, c0:c0 + tw] = torch.sigmoid(logits[0, 0, :th, :tw].float()).numpy()
                if features:
                    if hidden_map is None:
                        hidden_map = np.empty((height, width, hid.shape[1]), np.float32)
                    hidden_map[r0:r0 + th, c0:c0 + tw] = hid[0, :, :th, :tw].float().permute(1, 2, 0).numpy()
                progress.update(1)
        progress.close()
    return (out, hidden_map) if features else out


@torch.inference_mode()
def predict_segmentation(segmenter: WindowClassifier, image: np.ndarray, *, tile: int = 512, margin: int = 32,
                         precision: str = "fp32", desc: str = "segmentation") -> np.ndarray:
    """P(avalanche) per pixel from a segmentation network, in tiles with a `margin` of context on each side
    (reflect-padded at the image border); each tile's margin is cropped, so memory is bounded by the tile."""
    height, width = image.shape[:2]
    padded = np.pad(image, ((margin, margin), (margin, margin), (0, 0)), mode="reflect")
    out = np.empty((height, width), np.float32)
    progress = bar(math.ceil(height / tile) * math.ceil(width / tile), desc)
    for r0 in range(0, height, tile):
        for c0 in range(0, width, tile):
            th, tw = min(tile, height - r0), min(tile, width - c0)
            x = segmenter.prepare(padded[None, r0:r0 + th + 2 * margin, c0:c0 + tw + 2 * margin])
            with autocast_for(precision):
                logits = segmenter(x)[0, margin:margin + th, margin:margin + tw]
            out[r0:r0 + th, c0:c0 + tw] = torch.sigmoid(logits.float()).numpy()
            progress.update(1)
    progress.close()
    return out


@torch.inference_mode()
def predict_windows(classifier: WindowClassifier, image: np.ndarray, *, batch_size: int = 512, precision: str = "fp32",
                    rows: int | None = None, desc: str = "window map", where: str = "image") -> np.ndarray:
    """P(avalanche) of every pixel by classifying its window, `batch_size` windows at a time (the reference).

    `rows` limits the pass to the image's first rows (windows are still cut from the whole padded image).
    """
    image = _check_image(classifier, image, where)
    classifier.eval()
    h = classifier.window
    height, width = image.shape[:2]
    rows = height if rows is None else min(rows, height)
    view = window_view(pad_image(image, h), h)[:rows].reshape(rows * width, h, h, image.shape[2])
    out = np.empty(rows * width, np.float32)
    progress = bar(math.ceil(out.size / batch_size), desc)
    for start in range(0, out.size, batch_size):
        x = classifier.prepare(np.ascontiguousarray(view[start:start + batch_size]))
        with autocast_for(precision):
            out[start:start + batch_size] = torch.sigmoid(classifier(x).float()).numpy()
        progress.update(1)
    progress.close()
    return out.reshape(rows, width)


def time_dense_vs_windows(classifier: WindowClassifier, image: np.ndarray, *, tile: int = 512,
                          window_rows: int | None = None, precision: str = "fp32") -> dict:
    """Seconds of both evaluations on `image` and their largest difference.

    `window_rows` limits the (slow) window-by-window pass to the first rows and extrapolates its time
    to the whole image; the difference is then measured on those rows.
    """
    t0 = time.perf_counter()
    dense = predict_probability(classifier, image, tile=tile, precision=precision, desc="dense")
    t_dense = time.perf_counter() - t0
    rows = image.shape[0] if window_rows is None else min(window_rows, image.shape[0])
    t0 = time.perf_counter()
    windowed = predict_windows(classifier, image, rows=rows, precision=precision, desc="windows")
    t_win = (time.perf_counter() - t0) * image.shape[0] / rows
    return {"dense_seconds": t_dense, "window_seconds": t_win, "speedup": t_win / t_dense,
            "max_abs_diff": float(np.abs(dense[:rows] - windowed).max()), "rows_compared": rows}
