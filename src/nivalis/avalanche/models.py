"""Window classifiers of seed 002 §3.1: a small 2D CNN, a 1D-conv CNN and zoo backbones, one logit per window.

A classifier maps a window :math:`X \\in [0, 255]^{h \\times h \\times d}` to a logit :math:`z`;
:math:`P(\\text{avalanche at the centre}) = \\sigma(z)`, trained with binary cross-entropy on logits
(§3.1, "a logit predictor function for numerical stability"):

.. math::
    \\mathcal L = -\\big(y \\log \\sigma(z) + (1 - y) \\log(1 - \\sigma(z))\\big).

`cnn` (the seed's CNN(17,17,1), CNN(17,17,3), CNN(33,33,3)): stages of two *valid* 3×3
conv–BN–ReLU followed by 2×2 max pooling, then Flatten → Linear → ReLU → Dropout → Linear. Valid
convolutions, un-padded pooling and a fully connected head make the network exactly convertible to a
fully convolutional one (see `dense.py`), which is the point of this design.

`cnn1d` (§3.1's "CNN with a 1D convolution"): the window is read as a sequence of rows, each row's
:math:`h \\cdot d` values being the features — Keras' Conv1D on an (h, w·d) input. Written as
Conv2d with kernel (3, h) then (3, 1) kernels and (2, 1) pooling, so it converts to dense form too.

Zoo backbones (`vgg16`, `resnet50`, `inception_resnet_v2`, ...): `create_model(name, num_classes=1,
in_chans=d)` from `nivalis.models`, used on the window as is (they end in global pooling, so any window
their down-sampling survives works; IRNv2 needs 76, §3.2; VGG pools to 1×1 before its head). Their
padded, strided layers are not shift-equivariant, so they have no exact dense form and are evaluated
window by window. With `backbone=` (``--pretrained`` / ``--freeze-backbone``) the same families are cut at
stride 8 and classify by their centre feature instead (`backbone.py`): published weights, and an exact dense form.

Beyond the seed, the zoo's `unet` (narrow widths, batch norm) is trained on h × h tiles against the
mask tile (`TileSegmenter`): a per-pixel segmentation compared in the same tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from nivalis.avalanche.config import AvalancheConfig
from nivalis.engine import load_checkpoint
from nivalis.errors import UserError
from nivalis.layers import ConvBnAct

OWN_MODELS = ("cnn", "cnn1d")


def _stage_widths(window: int, widths: Sequence[int], model: str) -> list[int]:
    """The conv widths two per stage (an odd list repeats its last), for a window the stages fit in."""
    if window < 7:
        raise UserError(f"window {window} is too small for the {model} (at least 7 px)")
    widths = list(widths)
    if len(widths) % 2:
        widths.append(widths[-1])
    return widths


class WindowCNN(nn.Module):
    """Small 2D CNN on an h × h × d window: [valid 3×3 conv-BN-ReLU ×2, 2×2 max pool] × stages, FC head.

    Args:
        window: window side h (≥ 7).
        in_chans: depth d (1 gray, 3 RGB).
        widths: conv widths, two per stage; stages are added while the map stays ≥ 2 px after
            its two convs, and repeated with the last pair until the map is ≤ 6 px (so a 76 px window
            gets a third stage instead of a 16×16 head).
        hidden: width of the fully connected layer; dropout before the output layer.

    Shapes: input [N, d, h, h] → output [N, num_classes] (logits).
    """

    def __init__(self, window: int = 33, in_chans: int = 3, num_classes: int = 1, widths: Sequence[int] = (16, 16, 32, 32),
                 hidden: int = 32, dropout: float = 0.25):
        super().__init__()
        widths = _stage_widths(window, widths, "cnn")
        pairs = [tuple(widths[i:i + 2]) for i in range(0, len(widths), 2)]
        layers: list[nn.Module] = []
        size, chans, k = window, in_chans, 0
        while size - 4 >= 2 and (k < len(pairs) or size > 6):
            w1, w2 = pairs[min(k, len(pairs) - 1)]
            layers += [ConvBnAct(chans, w1, 3, padding=0), ConvBnAct(w1, w2, 3, padding=0), nn.MaxPool2d(2)]
            size, chans, k = (size - 4) // 2, w2, k + 1
        self.features = nn.Sequential(*layers)
        self.feature_shape = (chans, size, size)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(chans * size * size, hidden), nn.ReLU(inplace=True),
                                  nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class WindowCNN1d(nn.Module):
    """1D-conv CNN: rows of the window form the sequence, each row's h·d values the features.

    The first layer is a Conv2d with kernel (3, h) — a Conv1D over rows with h·d input features —
    followed by (3, 1) convs and (2, 1) max pooling per stage, then the same FC head as `WindowCNN`.

    Shapes: input [N, d, h, h] → output [N, num_classes].
    """

    def __init__(self, window: int = 33, in_chans: int = 3, num_classes: int = 1, widths: Sequence[int] = (32, 32, 32, 32),
                 hidden: int = 32, dropout: float = 0.25):
        super().__init__()
        widths = _stage_widths(window, widths, "cnn1d")
        layers: list[nn.Module] = []
        size, chans, k = window, in_chans, 0
        while size - 4 >= 2 and (k < len(widths) // 2 or size > 6):
            w1, w2 = widths[min(2 * k, len(widths) - 2):][:2]
            first = (3, window) if k == 0 else (3, 1)
            layers += [ConvBnAct(chans, w1, first, padding=0), ConvBnAct(w1, w2, (3, 1), padding=0),
                       nn.MaxPool2d((2, 1))]
            size, chans, k = (size - 4) // 2, w2, k + 1
        self.features = nn.Sequential(*layers)
        self.feature_shape = (chans, size, 1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(chans * size, hidden), nn.ReLU(inplace=True),
                                  nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class WindowClassifier(nn.Module):
    """A window classifier with its input convention: `prepare` turns uint8 windows into the network's input.

    Attributes:
        window: window side h; `channels`: depth d; `model_name`: `cnn`, `cnn1d` or a zoo name.
        net: the network, [N, d, h, h] → [N, 1].

    `prepare(windows)`: [N, h, h, d] (numpy or tensor) of the dtype the model was trained on (`input_dtype`:
    uint8, uint16, int16, float32, ...) → float [N, d, h, h], scaled by `input_scale` (1/255 for uint8,
    else 1) and standardised with the training scenes' per-band mean and standard deviation over valid
    pixels (buffers, saved with the weights). It is pointwise, so it also prepares a whole padded tile
    [1, H', W', d] for dense use.
    Calling the classifier gives one logit per window, shape [N].
    """

    def __init__(self, net: nn.Module, model_name: str, window: int, channels: int,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None, dtype: str = "uint8"):
        super().__init__()
        self.net, self.model_name, self.window, self.channels = net, model_name, int(window), int(channels)
        self.input_dtype = np.dtype(dtype).name
        self.input_scale = input_scale(self.input_dtype)
        self.register_buffer("mean", torch.tensor(list(mean) if mean is not None else [0.5] * channels, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(list(std) if std is not None else [0.25] * channels, dtype=torch.float32))
        self.backbone: dict | None = None  # {"pretrained": file name, "frozen": bool} for a cut backbone

    @property
    def exact_dense(self) -> bool:
        """True when the network converts exactly to a fully convolutional one (own CNNs, cut backbones)."""
        from nivalis.avalanche.backbone import BackboneWindowNet

        return isinstance(self.net, (WindowCNN, WindowCNN1d, BackboneWindowNet))

    def prepare(self, windows: np.ndarray | torch.Tensor) -> torch.Tensor:
        if isinstance(windows, np.ndarray):
            if windows.dtype.name != self.input_dtype:
                raise TypeError(f"prepare expects {self.input_dtype} windows, got {windows.dtype}")
            x = torch.from_numpy(np.ascontiguousarray(windows) if windows.dtype == np.uint8
                                 else windows.astype(np.float32))
        else:
            x = windows
            if str(x.dtype).removeprefix("torch.") != self.input_dtype:
                raise TypeError(f"prepare expects {self.input_dtype} windows, got {x.dtype}")
        if x.ndim != 4 or x.shape[-1] != self.channels:
            raise ValueError(f"prepare expects [N, h, w, {self.channels}] windows, got {list(x.shape)}")
        x = x.permute(0, 3, 1, 2).float()
        if self.input_scale != 1.0:
            x = x.mul_(self.input_scale)
        return (x - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(x.shape[0], -1)[:, 0]


class TileSegmenter(WindowClassifier):
    """A segmentation network (the zoo's `unet`) trained on h × h tiles: one logit per *pixel*.

    Same `prepare` and standardisation as a window classifier; calling it on [N, d, H, W] gives logits
    [N, H, W]. Whole scenes are segmented in overlapping tiles (see `dense.predict_probability`).
    """

    per_pixel = True

    @property
    def exact_dense(self) -> bool:
        return False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, 0]


def input_scale(dtype: str) -> float:
    """The fixed factor applied to pixels before standardisation: 1/255 for uint8 (the seed's [0, 1] input), else 1."""
    return 1.0 / 255.0 if np.dtype(dtype) == np.uint8 else 1.0


def is_segmenter(model: str) -> bool:
    if model in OWN_MODELS:
        return False
    from nivalis.models import model_family

    return model in _zoo_names() and model_family(model) == "unet"


def _zoo_names() -> list[str]:
    from nivalis.models import list_models

    return list_models()


def build_net(model: str, window: int, channels: int, config: AvalancheConfig | None = None,
              backbone: dict | None = None) -> nn.Module:
    """The network for `--model` (cnn, cnn1d, or a zoo name adapted to one logit and `channels` inputs).

    `backbone` ({"pretrained": PATH or None, "frozen": bool}): the zoo model cut at stride 8 (`backbone.py`),
    with its weights read from PATH; its window is the smallest exact one of at least `window`.
    """
    cfg = config or AvalancheConfig()
    if backbone is not None:
        if model in OWN_MODELS or is_segmenter(model):
            raise UserError(f"--pretrained/--freeze-backbone take a zoo backbone (vgg16, resnet50, "
                            f"inception_resnet_v2, ...), not {model!r}")
        if model not in _zoo_names():
            raise UserError(f"unknown model {model!r}")
        from nivalis.avalanche.backbone import build_backbone_net

        return build_backbone_net(model, window, channels, pretrained=backbone.get("pretrained"),
                                  frozen=bool(backbone.get("frozen")), hidden=cfg.cnn_hidden, dropout=cfg.dropout)
    if model == "cnn":
        return WindowCNN(window, channels, 1, cfg.cnn_widths, cfg.cnn_hidden, cfg.dropout)
    if model == "cnn1d":
        return WindowCNN1d(window, channels, 1, cfg.cnn_widths, cfg.cnn_hidden, cfg.dropout)
    from nivalis.models import create_model, model_family

    if model not in _zoo_names():
        raise UserError(f"unknown model {model!r}: cnn, cnn1d or a zoo model ({', '.join(_zoo_names()[:8])}, ...)")
    family = model_family(model)
    if family == "unet":
        return create_model(model, num_classes=1, in_chans=channels, widths=tuple(cfg.unet_widths), batch_norm=True)
    # VGG's 7×7 adaptive pool would only replicate the 1×1 map a 33 px window leaves: pool to 1 × 1 (512 → 4096
    # head), as Keras' VGG16(include_top=False, input_shape=(33, 33, 3)) + a dense head, the seed's setting.
    kwargs = {"pool_size": 1} if family == "vgg" else {}
    net = create_model(model, num_classes=1, in_chans=channels, **kwargs)
    net.eval()
    try:
        with torch.no_grad():
            out = net(torch.zeros(2, channels, window, window))
    except RuntimeError as exc:
        raise UserError(f"model {model!r} cannot take {window}×{window} windows "
                        f"({str(exc).splitlines()[0][:100]}); use a larger --window") from None
    if out.numel() != 2:
        raise UserError(f"model {model!r} gives {out.shape[1:]} outputs per window, not one logit")
    net.train()
    return net


def build_classifier(model: str, window: int, channels: int, config: AvalancheConfig | None = None,
                     mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                     dtype: str = "uint8", backbone: dict | None = None) -> WindowClassifier:
    if channels < 1:
        raise UserError(f"a model needs at least one band, got {channels}")
    if window < 3:
        raise UserError(f"--window must be at least 3 px, got {window}")
    cls = TileSegmenter if is_segmenter(model) else WindowClassifier
    net = build_net(model, window, channels, config, backbone)
    clf = cls(net, model, getattr(net, "window", window) if backbone else window, channels, mean, std, dtype)
    if backbone is not None:
        pretrained = backbone.get("pretrained")
        clf.backbone = {"pretrained": Path(pretrained).name if pretrained else None,
                        "frozen": bool(backbone.get("frozen")), "stride": net.stride}
    return clf


def classifier_meta(clf: WindowClassifier, config: AvalancheConfig) -> dict:
    """What a checkpoint needs to rebuild `clf` (plain values only)."""
    meta = {"task": "avalanche-window", "model": clf.model_name, "window": clf.window, "channels": clf.channels,
            "dtype": clf.input_dtype, "config": config.to_dict()}
    if clf.backbone is not None:
        meta["backbone"] = dict(clf.backbone)
    return meta


def load_classifier(checkpoint: str | Path) -> WindowClassifier:
    """Rebuild a trained window classifier from `nivalis avalanche train`'s checkpoint (eval mode)."""
    payload = load_checkpoint(checkpoint)
    meta = payload.get("meta", {})
    if meta.get("task") != "avalanche-window":
        raise UserError(f"{checkpoint} is not an avalanche window-classifier checkpoint (task {meta.get('task')!r})")
    config = AvalancheConfig.from_dict(meta.get("config", {}))
    # checkpoints from before radiometry was stored saw uint8 images only
    backbone = meta.get("backbone")
    clf = build_classifier(meta["model"], int(meta["window"]), int(meta["channels"]), config,
                           dtype=meta.get("dtype", "uint8"),
                           backbone=None if backbone is None else {"pretrained": None,
                                                                   "frozen": bool(backbone.get("frozen"))})
    if backbone is not None:
        clf.backbone = dict(backbone)  # the file the weights first came from, as recorded at training
    try:
        clf.load_state_dict(payload["model"])
    except (RuntimeError, KeyError) as exc:
        raise UserError(f"checkpoint {checkpoint} does not match its model: {str(exc).splitlines()[0][:140]}") from None
    clf.eval()
    clf.meta = meta  # type: ignore[attr-defined]  (threshold, XGBoost head, training record)
    return clf
