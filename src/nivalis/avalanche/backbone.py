"""Pretrained zoo backbones (VGG16, ResNet50, Inception-ResNet-v2, ...) as window classifiers with an exact dense form.

Seed 002 §3.1 and Tables 1–2 classify avalanche windows with ImageNet-trained backbones and a dense head. Here a
backbone is cut after its stride-:math:`S = 8` stage (ResNet: stem, layer1, layer2; VGG: through pool3;
Inception-ResNet-v2: the stem through Mixed-5b), and the window classifier is

.. math::
    z(X) = g\\big(F(X)[:, c / S, c / S]\\big),\\qquad X \\in \\mathbb R^{d \\times W \\times W},\\; W = 2c + 1,

the cut backbone :math:`F` (its own padding and strides) on the window, its feature at the window centre
:math:`c` (a multiple of :math:`S`, so the centre is a point of the stride grid) and a head :math:`g`
(Linear–ReLU–Dropout–Linear). :math:`c` is at least the reach of the centre feature: the sum over the
backbone's layers of :math:`p_l D_l` to the left and :math:`((k_l - 1) d_l - p_l) D_l` to the right
(:math:`k` kernel, :math:`p` padding, :math:`d` dilation, :math:`D_l` the product of the strides before layer
:math:`l`; the sum over parallel branches bounds their maximum). So the centre feature never reads the
zero padding inside the window, and it is a function of the scene's pixels alone: the same at that pixel
whichever window contains it.

Dense form (the *à trous* conversion of `dense.py`, here for padded layers and residual/concatenating blocks):
every conv and pool gets stride 1 and dilation :math:`d_l D_l`, with explicit padding
:math:`p_l D_l` before and :math:`((k_l - 1) d_l - p_l) D_l` after, so every map keeps the tile's size and
position :math:`x` of layer :math:`l` is :math:`F_l` at pixel :math:`x` of the strided network run on the
window whose stride grid passes through :math:`x`:

.. math::
    F_l(x) = \\sum_a W_l[a]\\, F_{l-1}\\big(x + (a - p_l) D_l\\big).

The head becomes 1×1 convolutions. On the reflect-padded tile (margin :math:`c`, as windows are cut) the
outputs inside the margin equal the window-by-window logits; values near the tile edge, which read the
explicit padding, lie in the cropped margin. One pass per tile costs what one strided pass costs per
output pixel of stride 1, instead of one whole backbone pass per pixel.

`frozen` (``--freeze-backbone``): the backbone runs in eval mode with its published BatchNorm statistics and no
gradient; its centre features of a fixed draw of windows are computed once and only the head is trained.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

from nivalis.errors import UserError

#: families whose stride-8 cut is defined, with the top-level modules kept
CUT_FAMILIES = ("ResNet", "VGG", "InceptionResNetV2")
STRIDE = 8
_SPATIAL = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def cut_backbone(model: nn.Module) -> nn.Sequential:
    """The stride-8 part of a zoo model (the modules themselves, weights shared with `model`)."""
    cls = type(model).__name__
    if cls == "ResNet":
        parts = [(k, getattr(model, k)) for k in ("stem", "layer1", "layer2")]
    elif cls == "VGG":
        pools = [i for i, m in enumerate(model.features) if isinstance(m, nn.MaxPool2d)]
        parts = [("features", model.features[:pools[2] + 1])]  # conv1_1 … pool3
    elif cls == "InceptionResNetV2":
        parts = [("stem", model.stem)]  # conv2d_1a … mixed_5b
    else:
        raise UserError(f"a pretrained backbone for avalanche windows is cut from {', '.join(CUT_FAMILIES)} models; "
                        f"{cls} has no cut defined")
    return nn.Sequential(OrderedDict(parts))


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _spatial_leaves(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, _SPATIAL)]


def _unsupported(module: nn.Module) -> str | None:
    for m in module.modules():
        if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Upsample, nn.ConvTranspose2d, nn.Linear)):
            return type(m).__name__
        if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) and m.ceil_mode:
            return f"{type(m).__name__}(ceil_mode=True)"
    return None


@torch.no_grad()
def geometry(backbone: nn.Module, channels: int, probe: int = 256) -> dict:
    """Cumulative stride `D` before every conv/pool (from one probe pass), the total stride and the reach.

    Returns {"dilation": {id(module): D}, "stride": S, "left": px, "right": px, "channels": C}. Strides are
    powers of two in the cut families, so `D` is the power of two nearest probe / (the layer's input side),
    which valid (un-padded) layers shrink by a few pixels.
    """
    bad = _unsupported(backbone)
    if bad:
        raise UserError(f"the backbone has a {bad} layer, which has no exact dense form")
    sizes: dict[int, int] = {}
    leaves = _spatial_leaves(backbone)
    hooks = [m.register_forward_pre_hook(lambda mod, inp: sizes.__setitem__(id(mod), inp[0].shape[-1]))
             for m in leaves]
    was = backbone.training
    backbone.eval()
    try:
        out = backbone(torch.zeros(1, channels, probe, probe))
    finally:
        backbone.train(was)
        for h in hooks:
            h.remove()

    def power_of_two(ratio: float) -> int:
        return 2 ** max(0, round(math.log2(ratio)))

    dil = {id(m): power_of_two(probe / sizes[id(m)]) for m in leaves}
    left = right = 0
    for m in leaves:
        D = dil[id(m)]
        reach = [(p * D, ((k - 1) * d - p) * D) for k, p, d in
                 zip(_pair(m.kernel_size), _pair(m.padding), _pair(getattr(m, "dilation", 1)))]
        left += max(r[0] for r in reach)
        right += max(r[1] for r in reach)
    return {"dilation": dil, "stride": power_of_two(probe / out.shape[-1]), "left": left, "right": right,
            "channels": int(out.shape[1])}


def window_for(geo: dict, window: int | None = None) -> int:
    """The smallest odd window W = 2c + 1 with c a multiple of the stride and c ≥ the reach (and ≥ `window`'s)."""
    s = geo["stride"]
    need = max(geo["left"], geo["right"], ((window or 1) - 1) // 2)
    return 2 * s * math.ceil(need / s) + 1


class BackboneWindowNet(nn.Module):
    """Cut backbone + the centre feature + a dense head: [N, d, W, W] → [N, 1] logits (see the module docstring).

    Args:
        backbone: the cut zoo model (`cut_backbone`), e.g. with published weights loaded.
        window: W = 2c + 1, c a multiple of the backbone's stride and at least its reach (`window_for`).
        frozen: backbone in eval mode without gradients (its features are computed once during training).
    """

    def __init__(self, backbone: nn.Sequential, window: int, channels: int, hidden: int = 32, dropout: float = 0.25,
                 frozen: bool = False):
        super().__init__()
        self.features = backbone
        self.geo = geo = geometry(backbone, channels)
        need = window_for(geo)
        if window < need or (window - 1) % (2 * geo["stride"]):
            raise UserError(f"a backbone window must be 2c+1 with c a multiple of {geo['stride']} and c ≥ "
                            f"{max(geo['left'], geo['right'])} (its reach): {need} or more, not {window}")
        self.window, self.stride, self.frozen = int(window), int(geo["stride"]), bool(frozen)
        self.centre = (window - 1) // 2
        self.feature_channels = geo["channels"]
        self.head = nn.Sequential(nn.Linear(self.feature_channels, hidden), nn.ReLU(inplace=True),
                                  nn.Dropout(dropout), nn.Linear(hidden, 1))
        if frozen:
            self.features.requires_grad_(False)
        with torch.no_grad():
            was = backbone.training
            backbone.eval()
            size = backbone(torch.zeros(1, channels, window, window)).shape[-1]
            backbone.train(was)
        if size <= self.centre // self.stride:
            raise UserError(f"the backbone's {size}-px map of a {window}-px window has no centre feature")

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.features.eval()  # published BatchNorm statistics, never updated
        return self

    def centre_features(self, x: torch.Tensor) -> torch.Tensor:
        i = self.centre // self.stride
        return self.features(x)[:, :, i, i]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.frozen:
            with torch.no_grad():
                f = self.centre_features(x)
        else:
            f = self.centre_features(x)
        return self.head(f)


class _AtrousConv(nn.Module):
    def __init__(self, conv: nn.Conv2d, D: int):
        super().__init__()
        self.conv = conv
        (kh, kw), (ph, pw), (dh, dw) = _pair(conv.kernel_size), _pair(conv.padding), _pair(conv.dilation)
        self.dilation = (dh * D, dw * D)
        self.pad = (pw * D, ((kw - 1) * dw - pw) * D, ph * D, ((kh - 1) * dh - ph) * D)

    def forward(self, x):
        return F.conv2d(F.pad(x, self.pad), self.conv.weight, self.conv.bias, 1, 0, self.dilation, self.conv.groups)


class _AtrousPool(nn.Module):
    """Max or average pool with stride 1 and dilation D, as running maxima/sums of shifted views."""

    def __init__(self, pool: nn.MaxPool2d | nn.AvgPool2d, D: int):
        super().__init__()
        self.kernel = _pair(pool.kernel_size)
        (ph, pw), (dh, dw) = _pair(pool.padding), _pair(getattr(pool, "dilation", 1))
        self.is_max = isinstance(pool, nn.MaxPool2d)
        self.dilation = (dh * D, dw * D)
        kh, kw = self.kernel
        self.pad = (pw * D, ((kw - 1) * dw - pw) * D, ph * D, ((kh - 1) * dh - ph) * D)

    def forward(self, x):
        # padding values only reach outputs in the cropped margin (see the module docstring)
        x = F.pad(x, self.pad)
        (kh, kw), (dh, dw) = self.kernel, self.dilation
        combine = torch.maximum if self.is_max else torch.add
        h = x.shape[-2] - (kh - 1) * dh
        out = x[..., 0:h, :]
        for a in range(1, kh):
            out = combine(out, x[..., a * dh:a * dh + h, :])
        w = x.shape[-1] - (kw - 1) * dw
        res = out[..., :, 0:w]
        for b in range(1, kw):
            res = combine(res, out[..., :, b * dw:b * dw + w])
        return res if self.is_max else res / float(kh * kw)


def _replace_spatial(module: nn.Module, dil: dict[int, int]) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d):
            setattr(module, name, _AtrousConv(child, dil[id(child)]))
        elif isinstance(child, (nn.MaxPool2d, nn.AvgPool2d)):
            setattr(module, name, _AtrousPool(child, dil[id(child)]))
        else:
            _replace_spatial(child, dil)


class DenseBackboneNet(nn.Module):
    """The à trous form of a `BackboneWindowNet`: padded tile [N, d, T + W − 1, T' + W − 1] → logits [N, 1, T, T'].

    Same contract as `dense.DenseWindowNet` (`forward(x, hidden=True)` also returns the head's last hidden
    activations). `max_tile`: full-resolution feature maps of 256–512 channels bound the output tile side.
    """

    max_tile = 192

    def __init__(self, net: BackboneWindowNet, channels: int):
        super().__init__()
        geo = net.geo
        features = copy.deepcopy(net.features)
        # the deep copy keeps module order, so map the original modules' dilations onto the copy's
        dil = {id(c): geo["dilation"][id(o)] for o, c in zip(_spatial_leaves(net.features), _spatial_leaves(features))}
        _replace_spatial(features, dil)
        self.features = features.eval()
        self.c = net.centre
        lin1, lin2 = net.head[0], net.head[3]
        self.body_head = nn.ModuleList([_as_conv(lin1), nn.ReLU()])
        self.last = _as_conv(lin2)

    def forward(self, x: torch.Tensor, hidden: bool = False):
        f = self.features(x)
        c = self.c
        f = f[..., c:f.shape[-2] - c, c:f.shape[-1] - c]
        for layer in self.body_head:
            f = layer(f)
        out = self.last(f)
        return (out, f) if hidden else out


def _as_conv(linear: nn.Linear) -> nn.Conv2d:
    conv = nn.Conv2d(linear.in_features, linear.out_features, 1)
    with torch.no_grad():
        conv.weight.copy_(linear.weight.view(*linear.weight.shape, 1, 1))
        conv.bias.copy_(linear.bias)
    return conv


def build_backbone_net(model: str, window: int | None, channels: int, *, pretrained: str | None = None,
                       frozen: bool = False, hidden: int = 32, dropout: float = 0.25) -> BackboneWindowNet:
    """A zoo model (with `pretrained` weights from a local file) cut at stride 8, on the smallest exact window."""
    from nivalis.models import create_model

    if pretrained and channels != 3:
        raise UserError(f"--pretrained {model} takes 3 bands (the weights' first convolution is RGB), not {channels}: "
                        "choose three with --bands")
    full = create_model(model, pretrained=pretrained, num_classes=0, in_chans=channels)
    backbone = cut_backbone(full)
    geo = geometry(backbone, channels)
    w = window_for(geo, window)
    return BackboneWindowNet(backbone, w, channels, hidden, dropout, frozen)
