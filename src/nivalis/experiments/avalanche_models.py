"""The seed 002 model comparison (Tables 1–2): every model trained on the same scenes and split, side by side."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from nivalis.avalanche.config import AvalancheConfig
from nivalis.avalanche.io.layout import Scene
from nivalis.avalanche.predict import evaluate_scenes
from nivalis.avalanche.train import TrainRun, train_window_classifier

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
    pretrained: str | None = None      # weights file of a zoo backbone: cut at stride 8 (avalanche/backbone.py)
    freeze_backbone: bool = False

    @property
    def label(self) -> str:
        scale = f" at 1/{2 ** self.pyramid_levels}" if self.pyramid_levels else ""
        cut = ""
        if self.pretrained or self.freeze_backbone:
            cut = (" pretrained" if self.pretrained else " random") + (" frozen" if self.freeze_backbone else " tuned")
        return f"{_LABELS.get(self.model, self.model)}({self.window},{self.window},{self.channels}){scale}{cut}"


def compare_models(scenes: list[Scene], specs: list[ModelSpec], config: AvalancheConfig | None = None,
                   out_dir: str | Path | None = None, *, pixel_metrics: bool = True) -> tuple[list[dict], list[TrainRun]]:
    """Train each spec on the same scenes and split; rows with the seed's columns (training seconds, loss,
    accuracy) plus window F1/IoU and, for models with a fast map, pixel metrics of the test scenes' maps."""
    cfg = config or AvalancheConfig()
    rows, runs = [], []
    for spec in specs:
        spec_cfg = replace(cfg, epochs=spec.epochs or cfg.epochs, windows_per_epoch=spec.windows_per_epoch or cfg.windows_per_epoch,
                           pyramid_levels=spec.pyramid_levels)
        slug = spec.label.replace("(", "-").replace(")", "").replace(",", "x").replace(" at 1/", "-level") \
            .replace(" ", "-")
        run_dir = Path(out_dir) / slug if out_dir else None
        run = train_window_classifier(scenes, spec.model, window=spec.window, channels=spec.channels, config=spec_cfg,
                                      out_dir=run_dir, desc=spec.label, pretrained=spec.pretrained,
                                      freeze_backbone=spec.freeze_backbone)
        r = run.result
        row = {"label": spec.label, "model": spec.model, "window": spec.window, "channels": spec.channels,
               "params": r["params"], "flops": r["flops"], "seconds": r["seconds"], "epochs": spec_cfg.epochs,
               "windows": spec_cfg.epochs * spec_cfg.windows_per_epoch, "loss": r["loss"], "accuracy": r["accuracy"],
               "f1": r["f1"], "iou": r["iou"], "threshold": r["threshold"]}
        if pixel_metrics and r["dense"]:
            ev = evaluate_scenes(run.classifier, run.split.test, config=spec_cfg)
            row.update({f"pixel_{k}": ev[k] for k in ("accuracy", "iou", "f1", "pod", "ppv")})
            row.update({k: ev[k] for k in ("object_pod", "object_ppv", "object_f1")})
            row["map_seconds"] = ev["seconds"]
            run.extras["test_eval"] = ev
        rows.append(row)
        runs.append(run)
    return rows, runs


# ------------------------------------------------------------------------------------------------ the demo's study

@dataclass
class MultibandStudy:
    """A satellite product as avalanche services hold it: 4-band uint16 GeoTIFFs, a nodata border, bands by name."""

    images: int
    radiometry: dict[str, Any]        # the checkpoint's per-band statistics
    test_scenes: int
    evaluation: dict[str, Any]        # `evaluate_scenes` on the test scenes
    scene: str                        # the test scene with most nodata, mapped by `predict_image`
    prediction: dict[str, Any]
    nodata_in: int                    # nodata pixels of that scene
    nodata_out: int                   # NaN pixels of its probability COG
    avalanche_on_nodata: int          # mask pixels marked avalanche where the input had no data


def multiband_study(run_dir: str | Path, quick: bool) -> MultibandStudy:
    """Simulated 4-band uint16 scenes with a nodata border: train on bands red,green,blue, evaluate, predict one."""
    import rasterio

    from nivalis.avalanche.predict import predict_image
    from nivalis.avalanche.simulate import simulate_dataset

    run_dir = Path(run_dir)
    data = run_dir / "data"
    sim = simulate_dataset(data, scenes=12 if quick else 20, seed=1, size=(256, 256), image_format="geotiff16")
    cfg = AvalancheConfig(epochs=3, windows_per_epoch=3072, val_windows=512)
    run = train_window_classifier(data, "cnn", window=17, bands="red,green,blue", config=cfg, out_dir=run_dir / "cnn",
                                  desc="CNN(17,17,3) on uint16 red,green,blue")
    ev = evaluate_scenes(run.classifier, run.split.test, config=cfg)
    scene = max(run.split.test, key=lambda s: int((~s.valid_mask).sum()))
    pred = predict_image(scene.image_path, run.result["checkpoint"], run_dir / "predict", bands="red,green,blue")
    with rasterio.open(pred["probability"]) as src:
        prob = src.read(1)
    with rasterio.open(pred["mask"]) as src:
        mask = src.read(1)
    return MultibandStudy(sim["images"], run.classifier.meta["radiometry"], len(run.split.test), ev, scene.name, pred,
                          int((~scene.valid_mask).sum()), int(np.isnan(prob).sum()),
                          int((mask[~scene.valid_mask] == 1).sum()))


@dataclass
class AvalancheStudy:
    """Everything the report's avalanche section shows, computed by `avalanche_study`."""

    simulation: dict[str, Any]
    size: int
    scenes: list[Scene]
    config: AvalancheConfig
    rows: list[dict]                  # `compare_models` rows (seed Tables 1–2)
    runs: list[TrainRun]
    best_row: dict                    # the exact dense CNN with the best pixel F1
    best: TrainRun
    edges: dict[str, Any]             # `evaluate_scenes` of the best CNN with the seed's Canny refinement
    xgb: dict[str, Any]               # ... and with the XGBoost head fitted on its validation scenes
    timing: dict[str, Any]            # dense vs window by window on a test scene
    probe_shape: tuple[int, int]
    geo_prediction: dict[str, Any] | None  # `predict_image` of a GeoTIFF scene (None without one)
    geo_scene: str | None
    multiband: MultibandStudy
    refinements: list[tuple[Scene, Any]] = field(default_factory=list)  # (test scene, `refine_with_edges` result)
    histograms: dict[str, Any] = field(default_factory=dict)          # `sunny_shady`
    pca_raw: dict[str, Any] = field(default_factory=dict)
    pca_cnn: dict[str, Any] = field(default_factory=dict)

    @property
    def split(self):
        return self.runs[0].split


def avalanche_study(out_dir: str | Path, quick: bool) -> AvalancheStudy:
    """The demo's avalanche study on simulated scenes: the seed's models side by side, refinement of the best CNN,
    dense timing, a georeferenced prediction, the multi-band product, sunny/shady histograms and PCA.

    Runs go to `out_dir/runs/avalanche`, the histogram figure to `out_dir/figures`."""
    from nivalis.avalanche.dense import time_dense_vs_windows
    from nivalis.avalanche.io.layout import load_scenes
    from nivalis.avalanche.predict import predict_image
    from nivalis.avalanche.refine import fit_xgboost_head, refine_with_edges
    from nivalis.avalanche.simulate import simulate_dataset
    from nivalis.experiments.avalanche_analysis import sunny_shady, window_feature_pca

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

    # refinement of the best CNN (by pixel F1): the seed's edges + second prediction, and the XGBoost head
    dense_runs = [(r, run) for r, run in zip(rows, runs)
                  if "pixel_f1" in r and run.classifier.exact_dense and not run.config.pyramid_levels]
    best_row, best = max(dense_runs, key=lambda rr: -1 if rr[0]["pixel_f1"] is None else rr[0]["pixel_f1"])
    clf, test = best.classifier, best.split.test
    ev_edges = evaluate_scenes(clf, test, refine="edges", config=cfg)
    head = fit_xgboost_head(clf, best.split.val, cfg)
    ev_xgb = evaluate_scenes(clf, test, refine="xgb", config=cfg, head=head)

    # dense == window-by-window, and its speed
    probe = test[0].image
    timing = time_dense_vs_windows(clf, probe, window_rows=min(8, probe.shape[0]))

    # a georeferenced scene through `predict`: GeoTIFFs, GeoPackage in UTM, RFC 7946 GeoJSON in WGS 84
    geo = next((s for s in test if s.georef is not None), next((s for s in scenes if s.georef is not None), None))
    geo_prediction = predict_image(geo.image_path, clf, run_dir / "predict") if geo is not None else None

    multiband = multiband_study(run_dir / "multiband", quick)

    # the seed's Figures 6–8 on the test scenes with the most avalanche pixels
    show = sorted(test, key=lambda s: -int(s.avalanche_mask.sum()))[:3]
    refinements = [(s, refine_with_edges(clf, s.image, replace(cfg, threshold=float(clf.meta.get("threshold", 0.5)))))
                   for s in show]
    histograms = sunny_shady(scenes, data_dir, fig_dir / "avalanche_histograms.png")
    pca_raw, pca_cnn = window_feature_pca(clf, runs[0].split.train, cfg)
    return AvalancheStudy(sim, size, scenes, cfg, rows, runs, best_row, best, ev_edges, ev_xgb, timing,
                          (int(probe.shape[0]), int(probe.shape[1])), geo_prediction, geo.name if geo else None,
                          multiband, refinements, histograms, pca_raw, pca_cnn)
