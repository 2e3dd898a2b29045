"""Train a window classifier on avalanche scenes (seed 002 §3–§4): scene split, balanced window stream, the engine's fit."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

from nivalis.avalanche.config import AvalancheConfig
from nivalis.avalanche.dense import dense_net
from nivalis.avalanche.io.layout import Scene, fill_scene, load_scenes
from nivalis.avalanche.io.raster import BandSelection, to_channels
from nivalis.avalanche.metrics import best_threshold
from nivalis.avalanche.models import WindowClassifier, build_classifier, classifier_meta, input_scale, is_segmenter
from nivalis.avalanche.predict import has_fast_map, map_scene
from nivalis.avalanche.refine import XGBoostHead, calibrate_edges_threshold, fit_xgboost_head, gaussian_pyramid
from nivalis.avalanche.windows import WindowStream, pad_widths
from nivalis.engine import (
    Task,
    TrainConfig,
    binary_task,
    evaluate,
    fit,
    get_context,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
)
from nivalis.engine.fit import CHECKPOINT_NAME
from nivalis.engine.records import write_run_files
from nivalis.errors import UserError
from nivalis.progress import bar

# ------------------------------------------------------------------------------------------------ data

@dataclass
class SceneSplit:
    train: list[Scene]
    val: list[Scene]
    test: list[Scene]

    def names(self) -> dict[str, list[str]]:
        return {k: [s.name for s in getattr(self, k)] for k in ("train", "val", "test")}


def split_scenes(scenes: list[Scene], fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0) -> SceneSplit:
    """Random split by scene; at least one scene per part (3+ scenes); the training part gets an avalanche."""
    n = len(scenes)
    if n == 0:
        raise UserError("no scenes")
    if n < 3:
        # too few to hold scenes out: evaluate on the training scenes (reported as such)
        return SceneSplit(list(scenes), list(scenes[-1:]), list(scenes[-1:]))
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(fractions[2] * n)))
    n_val = max(1, int(round(fractions[1] * n)))
    n_train = n - n_val - n_test
    if n_train < 1:
        n_train, n_val, n_test = n - 2, 1, 1
    parts = [list(order[:n_train]), list(order[n_train:n_train + n_val]), list(order[n_train + n_val:])]
    has = [bool(scenes[i].avalanche_mask is not None and scenes[i].avalanche_mask.any()) for i in range(n)]
    if not any(has[i] for i in parts[0]):
        donor = next((p for p in (parts[2], parts[1]) if any(has[i] for i in p)), None)
        if donor is None:
            raise UserError("no scene has an avalanche pixel: nothing to train on")
        j = next(i for i in donor if has[i])
        donor[donor.index(j)], parts[0][0] = parts[0][0], j
    return SceneSplit(*[[scenes[i] for i in sorted(p, key=lambda i: scenes[i].name)] for p in parts])


def pyramid_scene(scene: Scene, levels: int) -> Scene:
    """The scene at Gaussian-pyramid level `levels` (§3.2): image and mask halved `levels` times."""
    if not levels:
        return scene
    image = gaussian_pyramid(scene.image, levels)[-1]
    mask = gaussian_pyramid(scene.avalanche_mask.astype(np.float32)[..., None], levels)[-1][..., 0] >= 0.5
    valid = None
    if scene.valid is not None:
        valid = gaussian_pyramid(scene.valid.astype(np.float32)[..., None], levels)[-1][..., 0] >= 0.5
        mask &= valid
    return replace(scene, image=image.astype(scene.image.dtype), avalanche_mask=mask, georef=None, valid=valid)


def channel_stats(scenes: list[Scene], channels: int) -> tuple[list[float], list[float]]:
    """Per-band mean and standard deviation over the *valid* pixels of `scenes`, in the model's input units
    (pixel × 1/255 for uint8, the raw value otherwise): the standardisation stored in the checkpoint."""
    total = np.zeros(channels)
    total_sq = np.zeros(channels)
    count = 0
    for s in scenes:
        scale = input_scale(s.image.dtype.name)
        x = to_channels(s.image, channels, f"image {s.name}")
        x = (x[s.valid] if s.valid is not None else x.reshape(-1, channels)).astype(np.float64) * scale
        total += x.sum(0)
        total_sq += (x**2).sum(0)
        count += x.shape[0]
    if count == 0:
        raise UserError("the training scenes have no valid (non-nodata) pixel")
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 1e-6))
    return mean.tolist(), std.tolist()


def _check_rgb(scenes: list[Scene], channels: int) -> None:
    if channels == 3:
        gray = [s.name for s in scenes if s.channels != 3]
        if gray:
            raise UserError(f"--channels 3 (RGB) but image {gray[0]} is gray; use --channels 1")


def radiometry(scenes: list[Scene], channels: int) -> dict:
    """What the model expects of its input: the bands (names when every band is described, else 1-based
    indices), their dtype, and the per-band mean/std over the scenes' valid pixels (model input units)."""
    dtypes = sorted({s.image.dtype.name for s in scenes})
    if len(dtypes) > 1:
        raise UserError(f"the scenes mix pixel types {', '.join(dtypes)}: one set of normalisation statistics "
                        "cannot serve both; convert them to one type")
    counts = sorted({s.channels for s in scenes})
    if len(counts) > 1 and channels != 1:
        raise UserError(f"the scenes have different band counts ({counts}): choose the same bands with --bands")
    names = [s.band_names for s in scenes if s.band_names and all(s.band_names)]
    if any(n != names[0] for n in names):
        raise UserError(f"the scenes' bands differ ({','.join(names[0])} vs "
                        f"{','.join(next(n for n in names if n != names[0]))}): choose them with --bands")
    mean, std = channel_stats(scenes, channels)
    return {"bands": list(names[0]) if names else None, "dtype": dtypes[0], "mean": mean, "std": std,
            "scale": input_scale(dtypes[0])}


#: float32 bytes a window's input value takes through a forward and backward pass (activations of the widest
#: layers, their gradients): an upper estimate for the memory check, with `WINDOW_CHUNK` windows cut at a time
ACTIVATION_BYTES_PER_VALUE = 64
WINDOW_CHUNK = 512


def physical_memory() -> int:
    """Bytes of RAM of this machine."""
    import os

    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _size(nbytes: float) -> str:
    for unit, k in (("TiB", 40), ("GiB", 30)):
        if nbytes >= 2**k:
            return f"{nbytes / 2**k:,.1f} {unit}"
    return f"{nbytes / 2**20:,.1f} MiB"


def check_training_memory(scenes: list[Scene], window: int, channels: int, config: AvalancheConfig) -> None:
    """A one-line UserError, before anything is allocated, when the scenes padded for `window`, the windows cut at
    a time and one batch through the model (with its activations) would not fit in this machine's memory."""
    itemsize = max((s.image.dtype.itemsize for s in scenes), default=1)
    padded = sum((s.shape[0] + window - 1) * (s.shape[1] + window - 1) * channels * itemsize for s in scenes)
    per_window = window * window * channels
    batch = WINDOW_CHUNK * per_window * (itemsize + 4) + config.batch_size * per_window * ACTIVATION_BYTES_PER_VALUE
    need, have = padded + batch, physical_memory()
    if need > have:
        raise UserError(f"--window {window} with --batch-size {config.batch_size} needs about {_size(need)} (the "
                        f"{len(scenes)} scenes padded by the window: {_size(padded)}, windows and one batch through "
                        f"the model: {_size(batch)}), more than this machine's {_size(have)}: lower them")


# ------------------------------------------------------------------------------------------------ training

@dataclass
class TrainRun:
    classifier: WindowClassifier
    result: dict[str, Any]
    history: list[dict[str, float]]
    split: SceneSplit
    config: AvalancheConfig
    head: XGBoostHead | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def default_window(model: str, config: AvalancheConfig | None = None) -> int:
    """The window (or tile) side a model is trained on by default: 33, 76 for IRNv2 (§3.2), the U-Net's tile."""
    cfg = config or AvalancheConfig()
    return cfg.unet_tile if is_segmenter(model) else cfg.zoo_windows.get(model, cfg.window)


def _train_config(cfg: AvalancheConfig) -> TrainConfig:
    # Keras' RMSprop (the seed's) has no momentum; the engine's default 0.9 is for SGD.
    momentum = 0.0 if cfg.optimizer.lower() == "rmsprop" else 0.9
    return TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, optimizer=cfg.optimizer,
                       momentum=momentum, seed=cfg.seed, precision=cfg.precision)


def train_window_classifier(data: str | Path | list[Scene], model: str = "cnn", *, window: int | None = None,
                            channels: int | None = None, config: AvalancheConfig | None = None,
                            out_dir: str | Path | None = None, xgb_head: bool = False, calibrate: bool = True,
                            desc: str | None = None, bands: BandSelection | str | list | None = None,
                            labels: str | Path | None = None, pretrained: str | Path | None = None,
                            freeze_backbone: bool = False) -> TrainRun:
    """Train `model` on windows of a seed-layout folder (or loaded scenes); test on held-out scenes.

    `bands`: which bands to read (indices or names, see `io.read_raster`); the per-band statistics of the
    training scenes' valid pixels, the band names and the dtype are stored in the checkpoint (`radiometry`).
    `labels`: avalanche polygons (GeoJSON/GeoPackage/Shapefile) rasterised onto every image instead of masks/.
    `pretrained` (a local torchvision/timm/nivalis weights file) and/or `freeze_backbone`: the zoo `model` cut at
    stride 8 and classifying by its centre feature (`backbone.py`), on the smallest exact window of at least
    `window`; with published weights on uint8 RGB the input is normalised with the weights' own mean/std (the
    registry's default config, e.g. ImageNet's), otherwise per band with the training scenes' statistics.
    `freeze_backbone`: the backbone's centre features of one fixed draw of `windows_per_epoch` windows are
    computed once and only the head is trained (`fit_frozen_head`).

    Result keys: accuracy, loss (and f1, iou, pod, ppv) on balanced windows of the test scenes, seconds
    (training), checkpoint, params, flops, threshold (calibrated on validation maps when the model is dense).
    """
    from nivalis.profile import count

    cfg = config or AvalancheConfig()
    segmenter = is_segmenter(model)
    spec = BandSelection.parse(bands)
    channels = int(channels or (len(spec) if spec else cfg.channels))
    backbone = {"pretrained": str(pretrained) if pretrained else None, "frozen": bool(freeze_backbone)} \
        if pretrained or freeze_backbone else None
    if backbone is not None:
        if xgb_head:
            raise UserError("--xgb-head is fitted on the small CNN's features: train a backbone without it")
        window = backbone_window(model, channels, window)
    window = int(window or default_window(model, cfg))
    cfg = replace(cfg, window=window, channels=channels)
    scenes = load_scenes(data, threshold=cfg.mask_threshold, bands=spec, labels=labels) \
        if isinstance(data, (str, Path)) \
        else list(data)
    _check_rgb(scenes, channels)
    check_training_memory(scenes, window, channels, cfg)
    split = split_scenes(scenes, cfg.split, cfg.seed)
    if xgb_head and cfg.pyramid_levels:
        raise UserError("the XGBoost head works on full-resolution maps: use it without --pyramid-levels")
    seed_everything(cfg.seed)
    levels = cfg.pyramid_levels
    radio = radiometry(split.train, channels)
    if backbone is not None and backbone["pretrained"] and radio["dtype"] == "uint8":
        from nivalis.models import default_cfg

        ref = default_cfg(model)  # the weights were trained on this normalisation of [0, 1] RGB
        radio |= {"mean": list(ref.mean), "std": list(ref.std), "normalisation": ref.weights}
    mean, std = radio["mean"], radio["std"]
    split = SceneSplit(*[[fill_scene(s, mean, radio["scale"]) for s in getattr(split, k)]
                         for k in ("train", "val", "test")])
    train_scenes = [pyramid_scene(s, levels) for s in split.train]
    clf = build_classifier(model, window, channels, cfg, mean, std, dtype=radio["dtype"], backbone=backbone)
    train_set = WindowStream(train_scenes, window, channels, cfg.windows_per_epoch, prepare=clf.prepare,
                             positive_fraction=cfg.positive_fraction, seed=cfg.seed, segmentation=segmenter)
    val_scenes = split.val if any(s.avalanche_mask.any() for s in split.val) else split.train
    test_scenes = split.test if any(s.avalanche_mask.any() for s in split.test) else val_scenes
    val_set = WindowStream([pyramid_scene(s, levels) for s in val_scenes], window, channels, cfg.val_windows,
                           prepare=clf.prepare, seed=cfg.seed + 1, fixed=True, segmentation=segmenter)
    test_set = WindowStream([pyramid_scene(s, levels) for s in test_scenes], window, channels, cfg.val_windows,
                            prepare=clf.prepare, seed=cfg.seed + 2, fixed=True, segmentation=segmenter)
    meta = classifier_meta(clf, cfg) | {"splits": split.names(), "threshold": cfg.threshold, "radiometry": radio}
    task = binary_task()
    desc = desc or f"{model} {window}x{window}x{channels}"
    if backbone is not None and backbone["frozen"]:
        fitted = fit_frozen_head(clf, train_set, val_set, config=_train_config(cfg), task=task, out_dir=out_dir,
                                 meta=meta, desc=desc)
    else:
        fitted = fit(clf, train_set, val_set, config=_train_config(cfg), task=task, out_dir=out_dir, meta=meta,
                     desc=desc, on_epoch=divergence_guard(clf, out_dir, cfg.lr))
    clf.eval()
    # Table 2 on the same balanced test pixels for every model: a segmenter is scored at its tiles' centres
    test = evaluate(clf, test_set, centre_pixel_task(window) if segmenter else task, batch_size=256,
                    precision=cfg.precision)
    counts = count(clf, (channels, window, window))
    threshold = cfg.threshold
    edges_threshold: float | None = None
    extras: dict[str, Any] = {}
    if calibrate and has_fast_map(clf):
        val_maps = [map_scene(clf, s.image, threshold=0.5, config=cfg, desc="calibrate")[0] for s in val_scenes]
        threshold = best_threshold([p[s.valid_mask] for p, s in zip(val_maps, val_scenes)],
                                   [s.avalanche_mask[s.valid_mask] for s in val_scenes])
        extras["val_maps"] = val_maps
        if not cfg.pyramid_levels:  # the second stage maps full-resolution images
            edges_threshold = calibrate_edges_threshold(clf, val_scenes, cfg, val_maps)
    head = fit_xgboost_head(clf, val_scenes, cfg) if xgb_head and dense_net(clf) is not None else None
    result = {
        "model": model, "window": window, "channels": channels, "accuracy": test["accuracy"], "loss": test["loss"],
        "f1": test["f1"], "iou": test["iou"], "pod": test["pod"], "ppv": test["ppv"],
        "val_accuracy": fitted.history[-1].get("val_accuracy") if fitted.history else None,
        "seconds": round(fitted.seconds, 3), "epochs": cfg.epochs, "params": counts["params"], "flops": counts["flops"],
        "threshold": threshold, "edges_threshold": edges_threshold, "dense": has_fast_map(clf),
        "xgb_head": head is not None, "precision": cfg.precision, "backbone": clf.backbone,
        "scenes": {k: len(v) for k, v in split.names().items()},
        "checkpoint": str(fitted.checkpoint) if fitted.checkpoint else None,
    }
    if fitted.checkpoint is not None and get_context().is_main:
        payload = load_checkpoint(fitted.checkpoint)
        payload["meta"].update({"threshold": threshold, "edges_threshold": edges_threshold,
                                "test": {k: result[k] for k in ("accuracy", "loss", "f1", "iou")}})
        if head is not None:
            payload["meta"]["xgb_head"] = head.to_json()
        save_checkpoint(fitted.checkpoint, payload)
        write_run_files(out_dir, result, fitted.history)
    clf.meta = meta | {"threshold": threshold, "edges_threshold": edges_threshold}  # type: ignore[attr-defined]
    if head is not None:
        clf.meta["xgb_head"] = head.to_json()
    return TrainRun(clf, result, fitted.history, split, cfg, head, extras)


def train_from_options(data: str | Path, model: str = "cnn", *, window: int | None = None,
                       channels: int | None = None, bands: BandSelection | str | list | None = None,
                       labels: str | Path | None = None, config: AvalancheConfig | None = None,
                       out_dir: str | Path | None = None, xgb_head: bool = False, pretrained: str | Path | None = None,
                       freeze_backbone: bool = False) -> TrainRun:
    """`nivalis avalanche train`: check the options as the command gives them, choose the window (a cut backbone's
    exact one), prepare the run folder (default `runs/avalanche-MODEL-WxWxC`) and `train_window_classifier`."""
    from nivalis.files import prepare_output_dir

    cfg = config or AvalancheConfig()
    if window is not None and window % 2 == 0 and model != "unet":
        raise UserError(f"--window must be odd, so a window has a centre pixel (seed: 17 or 33), got {window}")
    selection = BandSelection.parse(bands)
    channels = channels or (len(selection) if selection else cfg.channels)
    if selection and channels not in (1, len(selection)):
        raise UserError(f"--channels {channels} with {len(selection)} --bands: use --channels {len(selection)} "
                        "(or 1 from RGB)")
    if not selection and channels not in (1, 3):
        raise UserError(f"--channels must be 1 or 3 (got {channels}); for other band counts give --bands")
    if cfg.batch_size > cfg.windows_per_epoch:
        raise UserError(f"--batch-size {cfg.batch_size} is larger than --windows-per-epoch {cfg.windows_per_epoch}: "
                        "a batch holds windows of one epoch")
    if cfg.optimizer.lower() not in ("adam", "rmsprop"):
        raise UserError(f"--optimizer must be adam or rmsprop (got {cfg.optimizer!r})")
    cfg = replace(cfg, optimizer=cfg.optimizer.lower())
    if pretrained is not None or freeze_backbone:
        if pretrained is not None and not Path(pretrained).is_file():
            raise UserError(f"weights file not found: {pretrained} (nivalis downloads nothing)")
        needed = backbone_window(model, channels, window)
        if window is not None and needed != window:
            warnings.warn(f"{model} cut at stride 8 needs an exact window of 2c+1 px, c a multiple of 8 covering its "
                          f"reach: using {needed}, not {window}", stacklevel=2)
        window = needed
    window = window or default_window(model, cfg)
    out = prepare_output_dir(out_dir or Path("runs") / f"avalanche-{model}-{window}x{window}x{channels}")
    try:
        return train_window_classifier(data, model, window=window, channels=channels, config=cfg, out_dir=out,
                                       xgb_head=xgb_head, bands=selection, labels=labels, pretrained=pretrained,
                                       freeze_backbone=freeze_backbone)
    except (MemoryError, RuntimeError) as exc:
        # the estimate of `check_training_memory` passed, but the memory free now (or a process limit) is smaller
        if not isinstance(exc, MemoryError) and "allocate" not in str(exc):
            raise
        raise UserError(f"out of memory training {model} on {window}×{window} windows in batches of "
                        f"{cfg.batch_size}: lower --batch-size or --window") from None


def backbone_window(model: str, channels: int, window: int | None = None) -> int:
    """The window of `model` cut at stride 8: the smallest exact one of at least `window` (`backbone.window_for`)."""
    from nivalis.avalanche.backbone import cut_backbone, geometry, window_for
    from nivalis.models import create_model

    if model in ("cnn", "cnn1d") or is_segmenter(model):
        raise UserError(f"--pretrained/--freeze-backbone take a zoo backbone (vgg16, resnet50, inception_resnet_v2, "
                        f"...), not {model!r}")
    return window_for(geometry(cut_backbone(create_model(model, num_classes=0, in_chans=channels)), channels), window)


class _Head(nn.Module):
    """The head of a cut backbone on its centre features: [N, C] → [N] logits."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.head(f)[:, 0]


@torch.no_grad()
def centre_features(clf: WindowClassifier, stream: WindowStream, *, batch_size: int = 128,
                    desc: str = "backbone features") -> TensorDataset:
    """(centre features [N, C], labels [N]) of one pass over `stream`, the backbone in eval mode."""
    clf.net.eval()
    stream.set_epoch(0)
    feats, labels = [], []
    progress = bar(math.ceil(len(stream) / batch_size), desc)
    for x, y in DataLoader(stream, batch_size=batch_size):
        feats.append(clf.net.centre_features(x).float())
        labels.append(y)
        progress.update(1)
    progress.close()
    return TensorDataset(torch.cat(feats), torch.cat(labels))


def fit_frozen_head(clf: WindowClassifier, train_set: WindowStream, val_set: WindowStream, *, config: TrainConfig,
                    task: Task, out_dir: str | Path | None, meta: dict, desc: str):
    """Train only the head of a frozen cut backbone: its features of one draw of windows computed once.

    The checkpoint holds the whole classifier (backbone and head), as `fit` would write it; `seconds` counts the
    feature pass and the head's epochs.
    """
    t0 = time.perf_counter()
    train_feats = centre_features(clf, train_set, desc=f"{desc}: training features")
    val_feats = centre_features(clf, val_set, desc=f"{desc}: validation features")
    feature_seconds = time.perf_counter() - t0
    head = _Head(clf.net.head)
    fitted = fit(head, train_feats, val_feats, config=config, task=task, out_dir=out_dir,
                 meta=meta | {"frozen_features": len(train_feats)}, desc=f"{desc} (frozen backbone)",
                 on_epoch=divergence_guard(head, out_dir, config.lr))
    fitted.seconds += feature_seconds  # training time = the one feature pass + the head's epochs
    fitted.model = clf
    if fitted.checkpoint is not None and get_context().is_main:
        payload = load_checkpoint(fitted.checkpoint)
        payload["model"] = clf.state_dict()
        payload.pop("optimizer", None)
        save_checkpoint(fitted.checkpoint, payload)
    return fitted


def divergence_guard(model: nn.Module, out_dir: str | Path | None, lr: float):
    """An epoch callback for `fit`: a non-finite training or validation loss, weight or statistic after an epoch is
    a diverged run, refused in one line, and its checkpoint (just written, not good) is removed.

    The engine stops on a non-finite training loss within an epoch; an epoch whose last steps blow the weights
    up (one step at `--lr 1e30`) still ends with a finite training loss and NaN weights, caught here."""
    def check(row: dict[str, float]) -> None:
        losses = {name: row.get(k) for name, k in (("training loss", "train_loss"), ("validation loss", "val_loss"))
                  if row.get(k) is not None}
        weights_ok = all(bool(torch.isfinite(t).all()) for t in model.state_dict().values() if t.is_floating_point())
        if weights_ok and all(math.isfinite(v) for v in losses.values()):
            return
        if out_dir is not None:
            (Path(out_dir) / CHECKPOINT_NAME).unlink(missing_ok=True)
        shown = ", ".join([f"{k} {v:.4g}" for k, v in losses.items()] + ([] if weights_ok else ["non-finite weights"]))
        raise UserError(f"training diverged at epoch {int(row['epoch'])} ({shown}); lower the learning rate "
                        f"(--lr {lr:g})")

    return check


def centre_pixel_task(window: int) -> Task:
    """BCE and binary metrics of a segmenter's output at the tile centre only (comparable with windows)."""
    c = pad_widths(window)[0]
    base = binary_task()
    return Task(loss=lambda out, y: base.loss(out[:, c, c], y[:, c, c]), metrics=base.metrics,
                metric_inputs=lambda out, y: base.metric_inputs(out[:, c, c], y[:, c, c]))
