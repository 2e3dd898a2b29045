"""The demo report's avalanche section: simulated scenes, the seed's models side by side, maps, refinement, polygons."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _multiband_part(sec, mb) -> None:
    """The multi-band product: 4-band uint16 scenes with a nodata border, trained on bands red,green,blue."""
    ev = mb.evaluation
    sec.text(f"A satellite product as avalanche services hold it: {mb.images} simulated 4-band uint16 GeoTIFFs "
             f"(bands described blue, green, red, nir; reflectance × 10000; nodata = 0 on a border strip). "
             f"`avalanche train --bands red,green,blue` picks the bands by description, computes per-band statistics "
             f"once on the training scenes' valid pixels (mean {', '.join(f'{m:.0f}' for m in mb.radiometry['mean'])}) "
             f"and stores them in the checkpoint; nodata pixels are never window centres and are not scored. On the "
             f"{mb.test_scenes} test scenes: pixel F1 {_num(ev['pixel_f1']):.3f}, pixel POD "
             f"{_num(ev['pixel_pod']):.3f}, pixel PPV {_num(ev['pixel_ppv']):.3f}; object POD "
             f"{_num(ev['object_pod']):.3f}, object PPV {_num(ev['object_ppv']):.3f}, object F1 "
             f"{_num(ev['object_f1']):.3f} ({ev['object_counts'].get('reference', 0)} reference avalanches, "
             f"{ev['object_counts'].get('predicted', 0)} predicted polygons). `avalanche predict` on {mb.scene}: "
             f"{mb.nodata_in} nodata pixels in, {mb.nodata_out} nodata pixels in the probability COG, "
             f"{mb.prediction['avalanches']} polygon(s) from a mask with {mb.avalanche_on_nodata} avalanche pixels on "
             f"nodata.")


def _num(v):
    return float("nan") if v is None else v


def build(out_dir: Path, quick: bool):
    """Report section: simulated scenes, the seed's models side by side, dense maps, refinement, polygons,
    sunny/shady histograms, PCA (computed by `experiments.avalanche_models.avalanche_study`)."""
    import matplotlib.pyplot as plt

    from nivalis.avalanche.outputs import overlay_image
    from nivalis.experiments.avalanche_models import avalanche_study
    from nivalis.report import Section, save_figure

    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    study = avalanche_study(out_dir, quick)
    rows, runs, split, cfg, size = study.rows, study.runs, study.split, study.config, study.size
    sim, best_row, clf = study.simulation, study.best_row, study.best.classifier

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
    ev_edges, t2 = study.edges, clf.meta.get("edges_threshold")
    for name, t, ev in ((f"{best_row['label']} + Canny/second prediction", t2, ev_edges),
                        (f"{best_row['label']} + XGBoost head", 0.5, study.xgb)):
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

    timing, (ph, pw) = study.timing, study.probe_shape
    sec.text(f"Dense evaluation of {best_row['label']} on a {ph}×{pw} test scene: "
             f"{timing['dense_seconds']:.3f} s against {timing['window_seconds']:.1f} s window by window "
             f"(×{timing['speedup']:.0f}), largest probability difference {timing['max_abs_diff']:.1e} "
             f"(over {timing['rows_compared']} rows). The window-by-window time is extrapolated from those rows.")

    pred = study.geo_prediction
    if pred is not None:
        sec.text(f"`nivalis avalanche predict` on the GeoTIFF scene {study.geo_scene} ({pred['crs']}): probability and "
                 f"mask GeoTIFFs with the input's transform, {pred['avalanches']} avalanche polygon(s) in the scene's "
                 f"CRS ({Path(pred['gpkg']).name}) and in WGS 84 lon/lat ({Path(pred['polygons']).name}), "
                 f"{pred['seconds']:.2f} s.")

    _multiband_part(sec, study.multiband)

    # overlays like the seed's Figures 6–8
    fig, axes = plt.subplots(len(study.refinements), 5, figsize=(15, 3.1 * len(study.refinements)), squeeze=False)
    for row_axes, (scene, r) in zip(axes, study.refinements):
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
    summary = study.histograms["summary"]
    sec.figure(Path(study.histograms["figure"]),
               "RGB and HSV histograms of sunny (left) and shady (right) scenes (seed Figure 10)")
    sec.table(["class", "images", "peak R/G/B", "mean R/G/B", "mean H/S/V", "|B − R|"],
              [[c, v["images"], "/".join(str(v["peak"][k]) for k in "RGB"), "/".join(str(v["mean"][k]) for k in "RGB"),
                "/".join(str(v["hsv_mean"][k]) for k in "HSV"), v["channel_separation"]] for c, v in summary.items()],
              caption="Sunny vs shady scenes: where the histograms peak, channel means and separation")

    # PCA of window features (seed §6)
    pca_raw, pca_cnn = study.pca_raw, study.pca_cnn
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
