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

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from nivalis.avalanche.config import AvalancheConfig
from nivalis.avalanche.dense import dense_net, predict_probability
from nivalis.avalanche.io import Scene, load_scene, load_scenes, write_geotiff, write_image
from nivalis.avalanche.models import WindowClassifier, build_classifier, classifier_meta, is_segmenter, load_classifier
from nivalis.avalanche.refine import XGBoostHead, fit_xgboost_head, gaussian_pyramid, refine_with_edges
from nivalis.avalanche.vectorize import mask_to_polygons, write_geojson
from nivalis.avalanche.windows import WindowStream, pad_widths
from nivalis.engine import (Task, TrainConfig, binary_task, evaluate, fit, get_context, load_checkpoint,
                            save_checkpoint, seed_everything)
from nivalis.engine.records import write_run_files
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


def pyramid_scene(scene: Scene, levels: int) -> Scene:
    """The scene at Gaussian-pyramid level `levels` (§3.2): image and mask halved `levels` times."""
    if not levels:
        return scene
    image = gaussian_pyramid(scene.image, levels)[-1]
    mask = gaussian_pyramid(scene.avalanche_mask.astype(np.float32)[..., None], levels)[-1][..., 0] >= 0.5
    return replace(scene, image=image, avalanche_mask=mask, georef=None)


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
                            desc: str | None = None) -> TrainRun:
    """Train `model` on windows of a seed-layout folder (or loaded scenes); test on held-out scenes.

    Result keys: accuracy, loss (and f1, iou, pod, ppv) on balanced windows of the test scenes, seconds
    (training), checkpoint, params, flops, threshold (calibrated on validation maps when the model is dense).
    """
    from nivalis.profile import count

    cfg = config or AvalancheConfig()
    segmenter = is_segmenter(model)
    window = int(window or default_window(model, cfg))
    channels = int(channels or cfg.channels)
    cfg = replace(cfg, window=window, channels=channels)
    scenes = load_scenes(data, threshold=cfg.mask_threshold) if isinstance(data, (str, Path)) else list(data)
    _check_rgb(scenes, channels)
    split = split_scenes(scenes, cfg.split, cfg.seed)
    if xgb_head and cfg.pyramid_levels:
        raise UserError("the XGBoost head works on full-resolution maps: use it without --pyramid-levels")
    seed_everything(cfg.seed)
    levels = cfg.pyramid_levels
    train_scenes = [pyramid_scene(s, levels) for s in split.train]
    mean, std = channel_stats(train_scenes, channels)
    clf = build_classifier(model, window, channels, cfg, mean, std)
    train_set = WindowStream(train_scenes, window, channels, cfg.windows_per_epoch, prepare=clf.prepare,
                             positive_fraction=cfg.positive_fraction, seed=cfg.seed, segmentation=segmenter)
    val_scenes = split.val if any(s.avalanche_mask.any() for s in split.val) else split.train
    test_scenes = split.test if any(s.avalanche_mask.any() for s in split.test) else val_scenes
    val_set = WindowStream([pyramid_scene(s, levels) for s in val_scenes], window, channels, cfg.val_windows,
                           prepare=clf.prepare, seed=cfg.seed + 1, fixed=True, segmentation=segmenter)
    test_set = WindowStream([pyramid_scene(s, levels) for s in test_scenes], window, channels, cfg.val_windows,
                            prepare=clf.prepare, seed=cfg.seed + 2, fixed=True, segmentation=segmenter)
    meta = classifier_meta(clf, cfg) | {"splits": split.names(), "threshold": cfg.threshold}
    task = binary_task()
    fitted = fit(clf, train_set, val_set, config=_train_config(cfg), task=task, out_dir=out_dir, meta=meta,
                 desc=desc or f"{model} {window}x{window}x{channels}")
    clf.eval()
    # Table 2 on the same balanced test pixels for every model: a segmenter is scored at its tiles' centres
    test = evaluate(clf, test_set, centre_pixel_task(window) if segmenter else task, batch_size=256,
                    precision=cfg.precision)
    counts = count(clf, (channels, window, window))
    threshold = cfg.threshold
    extras: dict[str, Any] = {}
    if calibrate and has_fast_map(clf):
        val_maps = [map_scene(clf, s.image, threshold=0.5, config=cfg, desc="calibrate")[0] for s in val_scenes]
        threshold = best_threshold(val_maps, [s.avalanche_mask for s in val_scenes])
        extras["val_maps"] = val_maps
    head = fit_xgboost_head(clf, val_scenes, cfg) if xgb_head and dense_net(clf) is not None else None
    result = {
        "model": model, "window": window, "channels": channels, "accuracy": test["accuracy"], "loss": test["loss"],
        "f1": test["f1"], "iou": test["iou"], "pod": test["pod"], "ppv": test["ppv"],
        "val_accuracy": fitted.history[-1].get("val_accuracy") if fitted.history else None,
        "seconds": round(fitted.seconds, 3), "epochs": cfg.epochs, "params": counts["params"], "flops": counts["flops"],
        "threshold": threshold, "dense": has_fast_map(clf), "xgb_head": head is not None,
        "scenes": {k: len(v) for k, v in split.names().items()},
        "checkpoint": str(fitted.checkpoint) if fitted.checkpoint else None,
    }
    if fitted.checkpoint is not None and get_context().is_main:
        payload = load_checkpoint(fitted.checkpoint)
        payload["meta"].update({"threshold": threshold, "test": {k: result[k] for k in ("accuracy", "loss", "f1", "iou")}})
        if head is not None:
            payload["meta"]["xgb_head"] = head.to_json()
        save_checkpoint(fitted.checkpoint, payload)
        write_run_files(out_dir, result, fitted.history)
    clf.meta = meta | {"threshold": threshold}  # type: ignore[attr-defined]
    if head is not None:
        clf.meta["xgb_head"] = head.to_json()
    return TrainRun(clf, result, fitted.history, split, cfg, head, extras)


def has_fast_map(classifier: WindowClassifier) -> bool:
    """Whether whole scenes are mapped in one fully convolutional pass (own CNNs, segmenters), not window by window."""
    return bool(getattr(classifier, "per_pixel", False)) or dense_net(classifier) is not None


def centre_pixel_task(window: int) -> Task:
    """BCE and binary metrics of a segmenter's output at the tile centre only (comparable with windows)."""
    c = pad_widths(window)[0]
    base = binary_task()
    return Task(loss=lambda out, y: base.loss(out[:, c, c], y[:, c, c]), metrics=base.metrics,
                metric_inputs=lambda out, y: base.metric_inputs(out[:, c, c], y[:, c, c]))


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
    if cfg.pyramid_levels:
        # a model trained on pyramid level L (§3.2) maps level L; the map is brought back to full size
        import cv2

        small = gaussian_pyramid(image, cfg.pyramid_levels)[-1]
        p, m = map_scene(classifier, small, refine=refine, threshold=threshold, config=replace(cfg, pyramid_levels=0),
                         precision=precision, head=head, desc=desc)
        size = (image.shape[1], image.shape[0])
        return (cv2.resize(p, size, interpolation=cv2.INTER_LINEAR),
                cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool))
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
    alpha = (np.float32(0.55) * probability.astype(np.float32))[..., None]
    out = rgb * (1 - alpha)  # float32: a 4256 × 3694 scene stays a few hundred MB
    out[..., 0] += 255 * alpha[..., 0]
    out = out.astype(np.uint8)
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


# ------------------------------------------------------------------------------------------------ comparison

_LABELS = {"cnn": "CNN", "cnn1d": "CNN-1D", "vgg16": "VGG16", "resnet50": "RN50", "inception_resnet_v2": "IRNv2",
           "unet": "U-Net"}


@dataclass
class ModelSpec:
    """One row of the seed's Tables 1–2: a model at a window size and depth, with its training budget."""

    model: str
    window: int
    channels: int
    epochs: int | None = None
    windows_per_epoch: int | None = None
    pyramid_levels: int = 0

    @property
    def label(self) -> str:
        scale = f" at 1/{2 ** self.pyramid_levels}" if self.pyramid_levels else ""
        return f"{_LABELS.get(self.model, self.model)}({self.window},{self.window},{self.channels}){scale}"


def compare_models(scenes: list[Scene], specs: list[ModelSpec], config: AvalancheConfig | None = None,
                   out_dir: str | Path | None = None, *, pixel_metrics: bool = True) -> tuple[list[dict], list[TrainRun]]:
    """Train each spec on the same scenes and split; rows with the seed's columns (training seconds, loss,
    accuracy) plus window F1/IoU and, for models with a fast map, pixel metrics of the test scenes' maps."""
    cfg = config or AvalancheConfig()
    rows, runs = [], []
    for spec in specs:
        spec_cfg = replace(cfg, epochs=spec.epochs or cfg.epochs, windows_per_epoch=spec.windows_per_epoch or cfg.windows_per_epoch,
                           pyramid_levels=spec.pyramid_levels)
        slug = spec.label.replace("(", "-").replace(")", "").replace(",", "x").replace(" at 1/", "-level")
        run_dir = Path(out_dir) / slug if out_dir else None
        run = train_window_classifier(scenes, spec.model, window=spec.window, channels=spec.channels, config=spec_cfg,
                                      out_dir=run_dir, desc=spec.label)
        r = run.result
        row = {"label": spec.label, "model": spec.model, "window": spec.window, "channels": spec.channels,
               "params": r["params"], "flops": r["flops"], "seconds": r["seconds"], "epochs": spec_cfg.epochs,
               "windows": spec_cfg.epochs * spec_cfg.windows_per_epoch, "loss": r["loss"], "accuracy": r["accuracy"],
               "f1": r["f1"], "iou": r["iou"], "threshold": r["threshold"]}
        if pixel_metrics and r["dense"]:
            ev = evaluate_scenes(run.classifier, run.split.test, config=spec_cfg)
            row.update({f"pixel_{k}": ev[k] for k in ("accuracy", "iou", "f1", "pod", "ppv")})
            row["map_seconds"] = ev["seconds"]
            run.extras["test_eval"] = ev
        rows.append(row)
        runs.append(run)
    return rows, runs


# ------------------------------------------------------------------------------------------------ demo

def _num(v):
    return float("nan") if v is None else v


def demo_section(out_dir: Path, quick: bool):
    """Report section: simulated scenes, the seed's models side by side, dense maps, refinement, polygons,
    sunny/shady histograms, PCA."""
    import matplotlib.pyplot as plt

    from nivalis.avalanche.analysis import (color_histograms, histogram_figure, histogram_summary, illumination_classes,
                                            pca_explained_variance)
    from nivalis.avalanche.dense import time_dense_vs_windows
    from nivalis.avalanche.simulate import simulate_dataset
    from nivalis.avalanche.windows import extract_windows, pad_image
    from nivalis.report import Section, save_figure

    out_dir = Path(out_dir)
    fig_dir, run_dir = out_dir / "figures", out_dir / "runs" / "avalanche"
    n_scenes, size = (24, 256) if quick else (60, 256)
    data_dir = run_dir / "data"
    sim = simulate_dataset(data_dir, scenes=n_scenes, seed=0, size=(size, size))
    scenes = load_scenes(data_dir)
    cfg = AvalancheConfig(epochs=3 if quick else 5, windows_per_epoch=3072 if quick else 6144,
                          val_windows=512 if quick else 1024, xgb_pixels=6000, xgb_trees=60)
    specs = [ModelSpec("cnn", 17, 1), ModelSpec("cnn", 17, 3), ModelSpec("cnn", 33, 3), ModelSpec("cnn1d", 33, 3)]
    if not quick:
        specs += [ModelSpec("cnn", 17, 3, pyramid_levels=1), ModelSpec("unet", 32, 3, epochs=3, windows_per_epoch=2048)]
    rows, runs = compare_models(scenes, specs, cfg, run_dir / "models")
    split = runs[0].split

    sec = Section("Avalanche mapping: window CNNs evaluated densely (seed 002, CAIC)")
    sec.text(f"{sim['images']} simulated scenes of {size}×{size} px at 2 m (fractal terrain, hillshade with a sunny or "
             f"shady sun, snow micro-relief, rocks, trees, avalanche paths with crown, track and rough debris; "
             f"{sim['geotiffs']} written as UTM 13N GeoTIFFs), split by scene into {len(split.train)} training, "
             f"{len(split.val)} validation and {len(split.test)} test scenes. Windows are streamed class-balanced "
             f"(never materialised); Adam, lr 1e-3, BCE on logits (§3.1), {cfg.epochs} epochs of "
             f"{cfg.windows_per_epoch} windows for the CNNs.")
    sec.table(["model", "params", "FLOPs/window", "windows seen", "train s (Table 1)", "loss (Table 2)",
               "accuracy (Table 2)", "F1", "IoU"],
              [[r["label"], r["params"], r["flops"], r["windows"], r["seconds"], r["loss"], r["accuracy"], r["f1"], r["iou"]]
               for r in rows],
              caption="Seed Tables 1–2 on the simulator: training time, and loss / accuracy / F1 / IoU on class-balanced "
                      "windows of the test scenes (U-Net: 32 px tiles, scored at their centres). The zoo backbones "
                      "(VGG16, RN50, IRNv2) cost 50–100× more per window here: benchmarks/avalanche_models.py trains "
                      "them side by side")
    pixel_rows = [[r["label"], r["threshold"], _num(r.get("pixel_accuracy")), _num(r.get("pixel_iou")),
                   _num(r.get("pixel_f1")), _num(r.get("pixel_pod")), _num(r.get("pixel_ppv")), _num(r.get("map_seconds"))]
                  for r in rows if "pixel_f1" in r]

    # refinement of the best CNN (by pixel F1): the seed's edges + second prediction, and the XGBoost head
    dense_runs = [(r, run) for r, run in zip(rows, runs)
                  if "pixel_f1" in r and run.classifier.exact_dense and not run.config.pyramid_levels]
    best_row, best = max(dense_runs, key=lambda rr: _num(rr[0]["pixel_f1"]) if rr[0]["pixel_f1"] is not None else -1)
    clf, test = best.classifier, best.split.test
    ev_edges = evaluate_scenes(clf, test, refine="edges", config=cfg)
    head = fit_xgboost_head(clf, best.split.val, cfg)
    ev_xgb = evaluate_scenes(clf, test, refine="xgb", config=cfg, head=head)
    for name, ev in ((f"{best_row['label']} + Canny/second prediction", ev_edges),
                     (f"{best_row['label']} + XGBoost head", ev_xgb)):
        pixel_rows.append([name, "", ev["accuracy"], _num(ev["iou"]), _num(ev["f1"]), _num(ev["pod"]), _num(ev["ppv"]),
                           ev["seconds"]])
    sec.table(["model", "threshold", "pixel accuracy", "IoU", "F1", "POD", "PPV", "map s"], pixel_rows,
              caption="Every pixel of the test scenes classified (dense maps; threshold calibrated on validation maps); "
                      "refinements of the best CNN below")

    # dense == window-by-window, and its speed
    probe = test[0].image
    timing = time_dense_vs_windows(clf, probe, window_rows=min(8, probe.shape[0]))
    sec.text(f"Dense evaluation of {best_row['label']} on a {probe.shape[0]}×{probe.shape[1]} test scene: "
             f"{timing['dense_seconds']:.3f} s against {timing['window_seconds']:.1f} s window by window "
             f"(×{timing['speedup']:.0f}), largest probability difference {timing['max_abs_diff']:.1e} "
             f"(over {timing['rows_compared']} rows). The window-by-window time is extrapolated from those rows.")

    # a georeferenced scene through `predict`: GeoTIFF + GeoJSON in UTM
    geo = next((s for s in test if s.georef is not None), next((s for s in scenes if s.georef is not None), None))
    if geo is not None:
        pred = predict_image(geo.image_path, clf, run_dir / "predict")
        sec.text(f"`nivalis avalanche predict` on the GeoTIFF scene {geo.name} ({pred['crs']}): probability and mask "
                 f"GeoTIFFs with the input's transform, {pred['avalanches']} avalanche polygon(s) in map coordinates "
                 f"({Path(pred['polygons']).name}), {pred['seconds']:.2f} s.")

    # overlays like the seed's Figures 6–8
    show = sorted(test, key=lambda s: -int(s.avalanche_mask.sum()))[:3]
    fig, axes = plt.subplots(len(show), 5, figsize=(15, 3.1 * len(show)), squeeze=False)
    for row_axes, scene in zip(axes, show):
        r = refine_with_edges(clf, scene.image, replace(cfg, threshold=float(clf.meta.get("threshold", 0.5))))
        rgb = scene.image if scene.channels == 3 else np.repeat(scene.image, 3, 2)
        panels = [(rgb, "image"), (scene.avalanche_mask, "mask"), (r.first, "first prediction p1"),
                  (r.edges, "Canny edges of p1"),
                  (overlay_image(scene.image, r.second, r.mask, scene.avalanche_mask), "p2 + max filter (yellow), truth (cyan)")]
        for ax, (img, title) in zip(row_axes, panels):
            ax.imshow(img, cmap="magma" if img.ndim == 2 and img.dtype != bool else "gray", vmin=0,
                      vmax=1 if img.ndim == 2 else None)
            ax.set_title(f"{scene.name}: {title}" if title == "image" else title, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    sec.figure(save_figure(fig, fig_dir / "avalanche_refinement.png"),
               f"{best_row['label']} on test scenes: first dense prediction, its Canny edges, second prediction on the "
               "edge-enhanced image with max filter and threshold (seed §4.2, Figures 6–8)")

    # learning curves (seed Figure 2)
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.4))
    for r, run in zip(rows, runs):
        ep = [h["epoch"] for h in run.history]
        ax[0].plot(ep, [h["train_loss"] for h in run.history], marker="o", label=r["label"])
        ax[1].plot(ep, [h["val_accuracy"] for h in run.history], marker="o", label=r["label"])
    ax[0].set_ylabel("training loss (BCE)"), ax[1].set_ylabel("validation accuracy (balanced windows)")
    for a in ax:
        a.set_xlabel("epoch"), a.grid(alpha=0.3)
    ax[1].legend(fontsize=7)
    sec.figure(save_figure(fig, fig_dir / "avalanche_learning_curves.png"), "Training loss and validation accuracy "
               "per epoch (seed Figure 2)")

    # sunny vs shady (seed §4.3, Figure 10)
    classes = illumination_classes(scenes, data_dir)
    hists = [color_histograms(s, classes[s.name]) for s in scenes]
    summary = histogram_summary(hists)
    sec.figure(histogram_figure(hists, fig_dir / "avalanche_histograms.png"),
               "RGB and HSV histograms of sunny (left) and shady (right) scenes (seed Figure 10)")
    sec.table(["class", "images", "peak R/G/B", "mean R/G/B", "mean H/S/V", "|B − R|"],
              [[c, v["images"], "/".join(str(v["peak"][k]) for k in "RGB"), "/".join(str(v["mean"][k]) for k in "RGB"),
                "/".join(str(v["hsv_mean"][k]) for k in "HSV"), v["channel_separation"]] for c, v in summary.items()],
              caption="Sunny vs shady scenes: where the histograms peak, channel means and separation")

    # PCA of window features (seed §6)
    rng = np.random.default_rng(0)
    picks = [(s, rng.integers(0, s.image.shape[0], 120), rng.integers(0, s.image.shape[1], 120)) for s in split.train[:12]]
    raw = np.concatenate([extract_windows(pad_image(s.image, 17), r, c, 17).reshape(len(r), -1) for s, r, c in picks])
    hidden = []
    for s, r, c in picks:
        _, hid = predict_probability(clf, s.image, tile=cfg.tile, features=True)
        hidden.append(hid[r, c])
    pca_raw = pca_explained_variance(raw.astype(np.float32), cfg.pca_variance)
    pca_cnn = pca_explained_variance(np.concatenate(hidden), cfg.pca_variance)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for res, name in ((pca_raw, "raw 17×17×3 windows"), (pca_cnn, f"{best_row['label']} hidden features")):
        ax.plot(np.arange(1, len(res["cumulative"]) + 1), res["cumulative"], label=f"{name}: {res['components']} comps")
    ax.axhline(cfg.pca_variance, color="k", lw=0.8, ls="--")
    ax.set_xscale("log"), ax.set_xlabel("components"), ax.set_ylabel("cumulative explained variance")
    ax.legend(fontsize=7), ax.grid(alpha=0.3)
    sec.figure(save_figure(fig, fig_dir / "avalanche_pca.png"), "PCA of window features (seed §6)")
    sec.text(f"PCA (§6): {pca_raw['components']} of {pca_raw['features']} standardised raw-window features and "
             f"{pca_cnn['components']} of {pca_cnn['features']} CNN features reach {cfg.pca_variance:.0%} of the "
             f"variance (the seed found 9 on its images).")
    return sec
