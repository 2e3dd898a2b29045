"""The demo report's avalanche section: simulated scenes, the seed's models side by side, maps, refinement, polygons."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from nivalis.avalanche.config import AvalancheConfig
from nivalis.avalanche.dense import predict_probability
from nivalis.avalanche.io import load_scenes
from nivalis.avalanche.predict import evaluate_scenes, overlay_image, predict_image
from nivalis.avalanche.refine import fit_xgboost_head, refine_with_edges
from nivalis.experiments.avalanche_models import ModelSpec, compare_models

# ------------------------------------------------------------------------------------------------ demo

def _multiband_part(sec, run_dir: Path, quick: bool) -> None:
    """Simulated 4-band uint16 scenes with a nodata border: train on bands red,green,blue, evaluate, predict one."""
    import rasterio

    from nivalis.avalanche.simulate import simulate_dataset
    from nivalis.avalanche.train import train_window_classifier

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
    avalanche_on_nodata = int((mask[~scene.valid_mask] == 1).sum())
    nodata_in = int((~scene.valid_mask).sum())
    nodata_out = int(np.isnan(prob).sum())
    radio = run.classifier.meta["radiometry"]
    sec.text(f"A satellite product as avalanche services hold it: {sim['images']} simulated 4-band uint16 GeoTIFFs "
             f"(bands described blue, green, red, nir; reflectance × 10000; nodata = 0 on a border strip). "
             f"`avalanche train --bands red,green,blue` picks the bands by description, computes per-band statistics "
             f"once on the training scenes' valid pixels (mean {', '.join(f'{m:.0f}' for m in radio['mean'])}) and "
             f"stores them in the checkpoint; nodata pixels are never window centres and are not scored. On the "
             f"{len(run.split.test)} test scenes: pixel F1 {_num(ev['pixel_f1']):.3f}, pixel POD "
             f"{_num(ev['pixel_pod']):.3f}, pixel PPV {_num(ev['pixel_ppv']):.3f}; object POD "
             f"{_num(ev['object_pod']):.3f}, object PPV {_num(ev['object_ppv']):.3f}, object F1 "
             f"{_num(ev['object_f1']):.3f} ({ev['object_counts'].get('reference', 0)} reference avalanches, "
             f"{ev['object_counts'].get('predicted', 0)} predicted polygons). `avalanche predict` on {scene.name}: "
             f"{nodata_in} nodata pixels in, {nodata_out} nodata pixels in the probability COG, "
             f"{pred['avalanches']} polygon(s) from a mask with {avalanche_on_nodata} avalanche pixels on nodata.")


def _num(v):
    return float("nan") if v is None else v


def build(out_dir: Path, quick: bool):
    """Report section: simulated scenes, the seed's models side by side, dense maps, refinement, polygons,
    sunny/shady histograms, PCA."""
    import matplotlib.pyplot as plt

    from nivalis.avalanche.dense import time_dense_vs_windows
    from nivalis.avalanche.simulate import simulate_dataset
    from nivalis.avalanche.windows import extract_windows, pad_image
    from nivalis.experiments.avalanche_analysis import (
        color_histograms,
        histogram_figure,
        histogram_summary,
        illumination_classes,
        pca_explained_variance,
    )
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
                   _num(r.get("pixel_f1")), _num(r.get("pixel_pod")), _num(r.get("pixel_ppv")),
                   _num(r.get("object_pod")), _num(r.get("object_ppv")), _num(r.get("object_f1")),
                   _num(r.get("map_seconds"))]
                  for r in rows if "pixel_f1" in r]

    # refinement of the best CNN (by pixel F1): the seed's edges + second prediction, and the XGBoost head
    dense_runs = [(r, run) for r, run in zip(rows, runs)
                  if "pixel_f1" in r and run.classifier.exact_dense and not run.config.pyramid_levels]
    best_row, best = max(dense_runs, key=lambda rr: _num(rr[0]["pixel_f1"]) if rr[0]["pixel_f1"] is not None else -1)
    clf, test = best.classifier, best.split.test
    ev_edges = evaluate_scenes(clf, test, refine="edges", config=cfg)
    head = fit_xgboost_head(clf, best.split.val, cfg)
    ev_xgb = evaluate_scenes(clf, test, refine="xgb", config=cfg, head=head)
    t2 = clf.meta.get("edges_threshold")
    for name, t, ev in ((f"{best_row['label']} + Canny/second prediction", t2, ev_edges),
                        (f"{best_row['label']} + XGBoost head", 0.5, ev_xgb)):
        pixel_rows.append([name, t, ev["accuracy"], _num(ev["iou"]), _num(ev["f1"]), _num(ev["pod"]), _num(ev["ppv"]),
                           _num(ev["object_pod"]), _num(ev["object_ppv"]), _num(ev["object_f1"]), ev["seconds"]])
    sec.table(["model", "threshold", "pixel accuracy", "pixel IoU", "pixel F1", "pixel POD", "pixel PPV",
               "object POD", "object PPV", "object F1", "map s"], pixel_rows,
              caption="Every pixel of the test scenes classified (dense maps; threshold calibrated on validation maps), "
                      "and avalanches counted as inventories count them (detected when ≥ 50 % of its area is covered; "
                      "a predicted polygon touching no avalanche is a false alarm); refinements of the best CNN below")
    first_f1, second_f1 = _num(best_row.get("pixel_f1")), _num(ev_edges["f1"])
    verdict = "improves on" if second_f1 > first_f1 else "does not improve on"
    sec.text(f"The seed's two-stage Canny refinement (§4.2), each stage calibrated on its own validation maps: "
             f"first stage threshold {best_row['threshold']:.2f}, pixel F1 {first_f1:.3f}; second stage (max-filtered "
             f"prediction on the edge-enhanced image) threshold {_num(t2):.2f}, pixel F1 {second_f1:.3f}. On these "
             f"scenes the second stage {verdict} the first; `--refine edges` stays off by default.")

    # dense == window-by-window, and its speed
    probe = test[0].image
    timing = time_dense_vs_windows(clf, probe, window_rows=min(8, probe.shape[0]))
    sec.text(f"Dense evaluation of {best_row['label']} on a {probe.shape[0]}×{probe.shape[1]} test scene: "
             f"{timing['dense_seconds']:.3f} s against {timing['window_seconds']:.1f} s window by window "
             f"(×{timing['speedup']:.0f}), largest probability difference {timing['max_abs_diff']:.1e} "
             f"(over {timing['rows_compared']} rows). The window-by-window time is extrapolated from those rows.")

    # a georeferenced scene through `predict`: GeoTIFFs, GeoPackage in UTM, RFC 7946 GeoJSON in WGS 84
    geo = next((s for s in test if s.georef is not None), next((s for s in scenes if s.georef is not None), None))
    if geo is not None:
        pred = predict_image(geo.image_path, clf, run_dir / "predict")
        sec.text(f"`nivalis avalanche predict` on the GeoTIFF scene {geo.name} ({pred['crs']}): probability and mask "
                 f"GeoTIFFs with the input's transform, {pred['avalanches']} avalanche polygon(s) in the scene's CRS "
                 f"({Path(pred['gpkg']).name}) and in WGS 84 lon/lat ({Path(pred['polygons']).name}), "
                 f"{pred['seconds']:.2f} s.")

    # a satellite product as avalanche services hold it: 4-band uint16 GeoTIFFs (B, G, R, NIR) with a nodata border
    _multiband_part(sec, run_dir / "multiband", quick)

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
            probability = img.ndim == 2 and img.dtype != bool and title.startswith("first")
            shown = ax.imshow(img, cmap="magma" if probability else "gray", vmin=0, vmax=1 if img.ndim == 2 else None)
            if probability:  # a probability needs its scale
                fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02, label="P(avalanche)")
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
