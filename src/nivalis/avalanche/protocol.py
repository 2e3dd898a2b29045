"""The avalanche pipeline end to end: train a window classifier, map whole scenes, evaluate, compare models.

Protocol (seed 002 §3–§4): scenes are split by scene (70/15/15, so no window of a test scene is seen
in training); windows are streamed class-balanced from the training scenes and trained through the
engine's `fit` with BCE on logits (Adam or RMSProp, lr 1e-3). Table 1 of the seed is the training
time, Table 2 the prediction loss and accuracy — here on class-balanced windows of the test scenes.
Beyond the seed, every pixel of every test scene is then classified (dense map) and scored as a
forecaster would: pixel accuracy, IoU, F1, POD (recall) and PPV (precision),

.. math::
    \\mathrm{IoU} = \\frac{TP}{TP + FP + FN},\\quad F_1 = \\frac{2TP}{2TP + FP + FN},\\quad
    \\mathrm{POD} = \\frac{TP}{TP + FN},\\quad \\mathrm{PPV} = \\frac{TP}{TP + FP}.

A classifier trained on balanced windows over-calls avalanches at the true (small) prevalence, so the
map's decision threshold is calibrated on the validation scenes (the threshold of best pixel F1) and
stored in the checkpoint; `--threshold` overrides it.
"""

from __future__ import annotations

import csv
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nivalis.avalanche.config import AvalancheConfig
from nivalis.avalanche.dense import dense_net, predict_probability
from nivalis.avalanche.io import Scene, load_scene, load_scenes, write_geotiff, write_image, write_json
from nivalis.avalanche.models import WindowClassifier, build_classifier, classifier_meta, load_classifier
from nivalis.avalanche.refine import XGBoostHead, fit_xgboost_head, max_filter_threshold, refine_with_edges
from nivalis.avalanche.vectorize import mask_to_polygons, write_geojson
from nivalis.avalanche.windows import WindowStream
from nivalis.engine import (TrainConfig, binary_task, evaluate, fit, get_context, load_checkpoint, save_checkpoint,
                            seed_everything)
from nivalis.errors import UserError

REFINEMENTS = ("none", "edges", "xgb")


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


def channel_stats(scenes: list[Scene], channels: int) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of pixel values / 255 over `scenes` (the input standardisation)."""
    from nivalis.avalanche.io import to_channels

    total = np.zeros(channels)
    total_sq = np.zeros(channels)
    count = 0
    for s in scenes:
        x = to_channels(s.image, channels, f"image {s.name}").reshape(-1, channels).astype(np.float64) / 255.0
        total += x.sum(0)
        total_sq += (x**2).sum(0)
        count += x.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 1e-6))
    return mean.tolist(), std.tolist()


def _check_rgb(scenes: list[Scene], channels: int) -> None:
    if channels == 3:
        gray = [s.name for s in scenes if s.channels != 3]
        if gray:
            raise UserError(f"--channels 3 (RGB) but image {gray[0]} is gray; use --channels 1")


# ------------------------------------------------------------------------------------------------ metrics

def pixel_counts(predicted: np.ndarray, truth: np.ndarray) -> dict[str, int]:
    p, t = predicted.astype(bool).ravel(), truth.astype(bool).ravel()
    tp = int(np.count_nonzero(p & t))
    fp = int(np.count_nonzero(p & ~t))
    fn = int(np.count_nonzero(~p & t))
    return {"tp": tp, "fp": fp, "fn": fn, "tn": int(p.size - tp - fp - fn)}


def scores(counts: dict[str, int]) -> dict[str, float | None]:
    """accuracy, iou, f1, pod (recall), ppv (precision); None where undefined (e.g. no avalanche and none predicted)."""
    tp, fp, fn, tn = counts["tp"], counts["fp"], counts["fn"], counts["tn"]

    def ratio(a, b):
        return a / b if b else None

    return {"accuracy": ratio(tp + tn, tp + fp + fn + tn), "iou": ratio(tp, tp + fp + fn),
            "f1": ratio(2 * tp, 2 * tp + fp + fn), "pod": ratio(tp, tp + fn), "ppv": ratio(tp, tp + fp)}


def best_threshold(probabilities: list[np.ndarray], masks: list[np.ndarray]) -> float:
    """The decision threshold of best pixel F1 over these maps (0.5 when there is no avalanche pixel)."""
    p = np.concatenate([q.ravel() for q in probabilities])
    t = np.concatenate([m.ravel() for m in masks])
    if not t.any():
        return 0.5
    grid = np.linspace(0.05, 0.95, 19)
    hist_pos = np.histogram(p[t], bins=np.r_[grid, 1.01])[0][::-1].cumsum()[::-1]  # positives with p ≥ grid[k]
    hist_neg = np.histogram(p[~t], bins=np.r_[grid, 1.01])[0][::-1].cumsum()[::-1]
    f1 = 2 * hist_pos / np.maximum(2 * hist_pos + hist_neg + (t.sum() - hist_pos), 1)
    return float(grid[int(np.argmax(f1))])


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


def _train_config(cfg: AvalancheConfig) -> TrainConfig:
    # Keras' RMSprop (the seed's) has no momentum; the engine's default 0.9 is for SGD.
    momentum = 0.0 if cfg.optimizer.lower() == "rmsprop" else 0.9
    return TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, optimizer=cfg.optimizer,
                       momentum=momentum, seed=cfg.seed, precision=cfg.precision)


def train_window_classifier(data: str | Path | list[Scene], model: str = "cnn", *, window: int | None = None,
                            channels: int | None = None, config: AvalancheConfig | None = None,
                            out_dir: str | Path | None = None, xgb_head: bool = False, calibrate: bool = True,
                            desc: str | None = None) -> TrainRun:
    """Train `model` on windows of a seed-layout folder (or loaded scenes); test on held-out scenes.

    Result keys: accuracy, loss (and f1, iou, pod, ppv) on balanced windows of the test scenes, seconds
    (training), checkpoint, params, flops, threshold (calibrated on validation maps when the model is dense).
    """
    from nivalis.profile import count

    cfg = config or AvalancheConfig()
    window = int(window or cfg.zoo_windows.get(model, cfg.window))
    channels = int(channels or cfg.channels)
    cfg = replace(cfg, window=window, channels=channels)
    scenes = load_scenes(data, threshold=cfg.mask_threshold) if isinstance(data, (str, Path)) else list(data)
    _check_rgb(scenes, channels)
    split = split_scenes(scenes, cfg.split, cfg.seed)
    seed_everything(cfg.seed)
    mean, std = channel_stats(split.train, channels)
    clf = build_classifier(model, window, channels, cfg, mean, std)
    train_set = WindowStream(split.train, window, channels, cfg.windows_per_epoch, prepare=clf.prepare,
                             positive_fraction=cfg.positive_fraction, seed=cfg.seed)
    val_scenes = split.val if any(s.avalanche_mask.any() for s in split.val) else split.train
    test_scenes = split.test if any(s.avalanche_mask.any() for s in split.test) else val_scenes
    val_set = WindowStream(val_scenes, window, channels, cfg.val_windows, prepare=clf.prepare, seed=cfg.seed + 1, fixed=True)
    test_set = WindowStream(test_scenes, window, channels, cfg.val_windows, prepare=clf.prepare, seed=cfg.seed + 2,
                            fixed=True)
    meta = classifier_meta(clf, cfg) | {"splits": split.names(), "threshold": cfg.threshold}
    task = binary_task()
    fitted = fit(clf, train_set, val_set, config=_train_config(cfg), task=task, out_dir=out_dir, meta=meta,
                 desc=desc or f"{model} {window}x{window}x{channels}")
    clf.eval()
    test = evaluate(clf, test_set, task, batch_size=256, precision=cfg.precision)
    counts = count(clf, (channels, window, window))
    threshold = cfg.threshold
    extras: dict[str, Any] = {}
    if calibrate and dense_net(clf) is not None:
        val_maps = [predict_probability(clf, s.image, tile=cfg.tile, desc="calibrate") for s in val_scenes]
        threshold = best_threshold(val_maps, [s.avalanche_mask for s in val_scenes])
        extras["val_maps"] = val_maps
    head = fit_xgboost_head(clf, val_scenes, cfg) if xgb_head and dense_net(clf) is not None else None
    result = {
        "model": model, "window": window, "channels": channels, "accuracy": test["accuracy"], "loss": test["loss"],
        "f1": test["f1"], "iou": test["iou"], "pod": test["pod"], "ppv": test["ppv"],
        "val_accuracy": fitted.history[-1].get("val_accuracy") if fitted.history else None,
        "seconds": round(fitted.seconds, 3), "epochs": cfg.epochs, "params": counts["params"], "flops": counts["flops"],
        "threshold": threshold, "dense": dense_net(clf) is not None, "xgb_head": head is not None,
        "scenes": {k: len(v) for k, v in split.names().items()},
        "checkpoint": str(fitted.checkpoint) if fitted.checkpoint else None,
    }
    if fitted.checkpoint is not None and get_context().is_main:
        payload = load_checkpoint(fitted.checkpoint)
        payload["meta"].update({"threshold": threshold, "test": {k: result[k] for k in ("accuracy", "loss", "f1", "iou")}})
        if head is not None:
            payload["meta"]["xgb_head"] = head.to_json()
        save_checkpoint(fitted.checkpoint, payload)
        _write_run_files(Path(out_dir), result, fitted.history)
    clf.meta = meta | {"threshold": threshold}  # type: ignore[attr-defined]
    return TrainRun(clf, result, fitted.history, split, cfg, head, extras)


def _write_run_files(out_dir: Path, result: dict, history: list[dict]) -> None:
    write_json(out_dir / "metrics.json", result)
    if history:
        tmp = out_dir / ".history.csv.tmp"
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(history[-1].keys()))
            writer.writeheader()
            writer.writerows(history)
        os.replace(tmp, out_dir / "history.csv")


# ------------------------------------------------------------------------------------------------ prediction

def _head_of(classifier: WindowClassifier) -> XGBoostHead:
    text = getattr(classifier, "meta", {}).get("xgb_head")
    if not text:
        raise UserError("this checkpoint has no XGBoost head: train it with `nivalis avalanche train --xgb-head`")
    return XGBoostHead.from_json(text)


def map_scene(classifier: WindowClassifier, image: np.ndarray, *, refine: str = "none", threshold: float | None = None,
              config: AvalancheConfig | None = None, precision: str = "fp32", head: XGBoostHead | None = None,
              desc: str = "dense map") -> tuple[np.ndarray, np.ndarray]:
    """(probability [H, W], avalanche_mask [H, W]) of one image.

    refine: `none` (dense map ≥ threshold), `edges` (the seed's Canny + second prediction, max filter and
    threshold) or `xgb` (the XGBoost head on the CNN's outputs).
    """
    cfg = config or AvalancheConfig()
    if refine not in REFINEMENTS:
        raise UserError(f"unknown refinement {refine!r} ({', '.join(REFINEMENTS)})")
    t = threshold if threshold is not None else float(getattr(classifier, "meta", {}).get("threshold", cfg.threshold))
    if refine == "edges":
        r = refine_with_edges(classifier, image, replace(cfg, threshold=t), precision=precision)
        return r.second, r.mask
    if refine == "xgb":
        head = head or _head_of(classifier)
        p, hidden = predict_probability(classifier, image, tile=cfg.tile, precision=precision, features=True, desc=desc)
        p = head.predict_map(p, hidden)
        t = threshold if threshold is not None else 0.5  # the head is fitted on balanced pixels of held-out scenes
        return p, p >= t
    p = predict_probability(classifier, image, tile=cfg.tile, precision=precision, desc=desc)
    return p, p >= t


def overlay_image(image: np.ndarray, probability: np.ndarray, mask: np.ndarray, truth: np.ndarray | None = None) -> np.ndarray:
    """RGB uint8: the image tinted red by probability, predicted outlines in yellow (true ones in cyan)."""
    import cv2

    rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
    alpha = (0.55 * probability)[..., None]
    out = (rgb * (1 - alpha) + np.array([255, 0, 0]) * alpha).astype(np.uint8)
    for m, color in ((truth, (0, 255, 255)), (mask, (255, 255, 0))):
        if m is not None and m.any():
            contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(out, contours, -1, color, max(1, round(min(image.shape[:2]) / 400)))
    return out


def predict_image(image_path: str | Path, checkpoint: str | Path | WindowClassifier, out_dir: str | Path, *,
                  refine: str = "none", threshold: float | None = None, precision: str = "fp32", tile: int | None = None,
                  min_area_px: int = 16) -> dict[str, Any]:
    """Map one image: writes `<stem>_probability.tif` (float32, the input's CRS/transform), `<stem>_mask.tif`
    (uint8 0/255), `<stem>_overlay.png` and `<stem>_polygons.geojson` (map coordinates when georeferenced)."""
    t0 = time.perf_counter()
    clf = checkpoint if isinstance(checkpoint, WindowClassifier) else load_classifier(checkpoint)
    cfg = AvalancheConfig.from_dict(getattr(clf, "meta", {}).get("config", {}))
    if tile:
        cfg = replace(cfg, tile=int(tile))
    scene = load_scene(Path(image_path))
    from nivalis.avalanche.io import to_channels

    image = to_channels(scene.image, clf.channels, f"image {image_path}")
    t_map = time.perf_counter()
    probability, mask = map_scene(clf, image, refine=refine, threshold=threshold, config=cfg, precision=precision)
    map_seconds = time.perf_counter() - t_map
    out = Path(out_dir)
    stem = Path(image_path).stem
    prob_path = write_geotiff(out / f"{stem}_probability.tif", probability.astype(np.float32), scene.georef)
    mask_path = write_geotiff(out / f"{stem}_mask.tif", mask.astype(np.uint8) * 255, scene.georef)
    overlay_path = write_image(out / f"{stem}_overlay.png", overlay_image(scene.image, probability, mask))
    polygons = mask_to_polygons(mask, scene.georef, min_area_px=min_area_px)
    poly_path = write_geojson(out / f"{stem}_polygons.geojson", polygons, scene.georef, probability, mask)
    return {"probability": str(prob_path), "mask": str(mask_path), "polygons": str(poly_path),
            "overlay": str(overlay_path), "seconds": round(time.perf_counter() - t0, 3),
            "map_seconds": round(map_seconds, 3), "avalanches": len(polygons),
            "avalanche_fraction": round(float(mask.mean()), 6), "height": int(mask.shape[0]), "width": int(mask.shape[1]),
            "crs": scene.georef.crs if scene.georef else None, "model": clf.model_name, "refine": refine}


# ------------------------------------------------------------------------------------------------ evaluation

def evaluate_scenes(classifier: WindowClassifier, scenes: list[Scene], *, refine: str = "none",
                    threshold: float | None = None, config: AvalancheConfig | None = None,
                    precision: str = "fp32", head: XGBoostHead | None = None) -> dict[str, Any]:
    """Pixel accuracy, IoU, F1, POD, PPV per image and overall (overall = pooled pixel counts)."""
    t0 = time.perf_counter()
    per_image, total = [], {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    if refine == "xgb" and head is None:
        head = _head_of(classifier)
    for s in scenes:
        if s.avalanche_mask is None:
            raise UserError(f"image {s.name} has no mask to evaluate against")
        _, mask = map_scene(classifier, s.image, refine=refine, threshold=threshold, config=config, precision=precision,
                            head=head, desc=s.name)
        c = pixel_counts(mask, s.avalanche_mask)
        total = {k: total[k] + c[k] for k in total}
        per_image.append({"image": s.name, **scores(c), "avalanche_pixels": int(s.avalanche_mask.sum()),
                          "predicted_pixels": int(mask.sum())})
    return {**scores(total), "images": per_image, "pixels": sum(total.values()), "counts": total,
            "seconds": round(time.perf_counter() - t0, 3)}


def evaluate_checkpoint(checkpoint: str | Path, data: str | Path, *, split: str = "all", refine: str = "none",
                        threshold: float | None = None, precision: str = "fp32") -> dict[str, Any]:
    """`nivalis avalanche evaluate`: score a checkpoint on a folder (all scenes, or the checkpoint's test split)."""
    clf = load_classifier(checkpoint)
    cfg = AvalancheConfig.from_dict(clf.meta.get("config", {}))
    scenes = load_scenes(data, threshold=cfg.mask_threshold)
    if split != "all":
        if split not in ("train", "val", "test"):
            raise UserError(f"--split must be all, train, val or test (got {split!r})")
        names = set(clf.meta.get("splits", {}).get(split, []))
        scenes = [s for s in scenes if s.name in names]
        if not scenes:
            raise UserError(f"none of the checkpoint's {split} scenes is in {data}")
    result = evaluate_scenes(clf, scenes, refine=refine, threshold=threshold, config=cfg, precision=precision)
    result.update({"model": clf.model_name, "window": clf.window, "channels": clf.channels, "split": split,
                   "refine": refine})
    return result


# ------------------------------------------------------------------------------------------------ demo

def demo_section(out_dir: Path, quick: bool):
    from nivalis.avalanche.report import build_section

    return build_section(Path(out_dir), quick)

