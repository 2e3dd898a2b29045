"""Map whole scenes with a trained window classifier: dense probability, refinement, mask, polygons; evaluate scenes."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from nivalis.avalanche.config import AvalancheConfig
from nivalis.avalanche.dense import dense_net, predict_probability
from nivalis.avalanche.inputs import (
    check_scene,
    load_model_scene,
    load_model_scenes,
    model_input,
    scene_input_summary,
)
from nivalis.avalanche.io.layout import Scene
from nivalis.avalanche.io.raster import BandSelection
from nivalis.avalanche.io.writers import write_geotiff, write_image
from nivalis.avalanche.metrics import MIN_AREA_PX, object_counts, object_scores, pixel_counts, scores
from nivalis.avalanche.models import WindowClassifier, load_classifier
from nivalis.avalanche.outputs import mapped_result, output_tags, overlay_image, simplify_pixels
from nivalis.avalanche.refine import XGBoostHead, gaussian_pyramid, refine_with_edges
from nivalis.avalanche.stream import can_stream, predict_geotiff_windowed
from nivalis.avalanche.vectorize import mask_to_polygons, write_polygons
from nivalis.errors import UserError

REFINEMENTS = ("none", "edges", "xgb")


def has_fast_map(classifier: WindowClassifier) -> bool:
    """Whether whole scenes are mapped in one fully convolutional pass (own CNNs, segmenters), not window by window."""
    return bool(getattr(classifier, "per_pixel", False)) or dense_net(classifier) is not None


# ------------------------------------------------------------------------------------------------ prediction

def prediction_config(classifier: WindowClassifier, tile: int | None = None) -> AvalancheConfig:
    """The configuration a checkpoint was trained with, its `tile` replaced where given (what predict maps with)."""
    cfg = AvalancheConfig.from_dict(getattr(classifier, "meta", {}).get("config", {}))
    return replace(cfg, tile=int(tile)) if tile else cfg


def mask_threshold(classifier: WindowClassifier, threshold: float | None, config: AvalancheConfig) -> float:
    """The probability threshold of the mask: `threshold`, else the one calibrated at training, else the config's."""
    return threshold if threshold is not None else float(getattr(classifier, "meta", {}).get("threshold",
                                                                                          config.threshold))


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
    t = mask_threshold(classifier, threshold, cfg)
    if refine == "edges":
        # the second stage has its own threshold, calibrated on its own maps (see `refine`); t1 only as a fallback
        # for checkpoints trained before it was stored
        meta = getattr(classifier, "meta", {})
        t2 = threshold if threshold is not None else meta.get("edges_threshold")
        t2 = t if t2 is None else float(t2)
        r = refine_with_edges(classifier, image, replace(cfg, threshold=t2), precision=precision)
        return r.second, r.mask
    if refine == "xgb":
        head = head or _head_of(classifier)
        p, hidden = predict_probability(classifier, image, tile=cfg.tile, precision=precision, features=True, desc=desc)
        p = head.predict_map(p, hidden)
        t = threshold if threshold is not None else 0.5  # the head is fitted on balanced pixels of held-out scenes
        return p, p >= t
    p = predict_probability(classifier, image, tile=cfg.tile, precision=precision, desc=desc)
    return p, p >= t


def predict_image(image_path: str | Path, checkpoint: str | Path | WindowClassifier, out_dir: str | Path, *,
                  refine: str = "none", threshold: float | None = None, precision: str = "fp32", tile: int | None = None,
                  min_area_px: int = 16, bands: BandSelection | str | list | None = None,
                  windowed: bool | None = None, simplify_m: float = 0.0, overlap: bool = True) -> dict[str, Any]:
    """Map one image: writes `<stem>_probability.tif` (float32 COG, the input's CRS/transform, NaN = nodata),
    `<stem>_mask.tif` (uint8 COG: 1 avalanche, 0 none, 255 nodata), `<stem>_overlay.png` and the polygons
    (see `vectorize.write_polygons`). `bands`: which bands to read (default: the checkpoint's). `simplify_m`:
    Douglas–Peucker tolerance of the outlines in metres (in pixels for an image without georeferencing).

    `windowed`: read, map and write a GeoTIFF tile by tile (`stream.py`: memory bounded by the tile, not the
    scene; `overlap`: reading, the dense pass and writing in three threads); None = whenever it can (a
    GeoTIFF, an exact dense model, no refinement, no pyramid level)."""
    t0 = time.perf_counter()
    clf = checkpoint if isinstance(checkpoint, WindowClassifier) else load_classifier(checkpoint)
    cfg = prediction_config(clf, tile)
    if refine not in REFINEMENTS:
        raise UserError(f"unknown refinement {refine!r} ({', '.join(REFINEMENTS)})")
    selection = BandSelection.parse(bands)
    t_used = mask_threshold(clf, threshold, cfg)
    streamable = can_stream(clf, image_path, refine, cfg)
    if windowed and not streamable:
        raise UserError("windowed prediction needs a GeoTIFF, a cnn/cnn1d model, --refine none and no pyramid level")
    if streamable and windowed is not False:
        return predict_geotiff_windowed(clf, image_path, out_dir, threshold=t_used, config=cfg, precision=precision,
                                        min_area_px=min_area_px, simplify_m=simplify_m, bands=selection,
                                        tile=int(tile) if tile else None, overlap=overlap)
    scene = load_model_scene(clf, image_path, bands=selection)
    inputs = scene_input_summary(clf, scene)  # bands, scaling, radiometry_sigma
    image = model_input(clf, scene)
    t_map = time.perf_counter()
    probability, mask = map_scene(clf, image, refine=refine, threshold=threshold, config=cfg, precision=precision)
    map_seconds = time.perf_counter() - t_map
    if scene.valid is not None:
        probability = np.where(scene.valid, probability, np.float32(np.nan)).astype(np.float32)
        mask = mask & scene.valid
    out = Path(out_dir)
    stem = Path(image_path).stem
    tags = output_tags(clf, t_used, scene.band_names, refine)
    prob_path = write_geotiff(out / f"{stem}_probability.tif", probability.astype(np.float32), scene.georef,
                              nodata=float("nan"), tags=tags, cog="average")
    mask_raster = mask.astype(np.uint8)
    if scene.valid is not None:
        mask_raster[~scene.valid] = 255
    mask_path = write_geotiff(out / f"{stem}_mask.tif", mask_raster, scene.georef, nodata=255, tags=tags,
                              cog="nearest")
    overlay_path = write_image(out / f"{stem}_overlay.png",
                               overlay_image(scene.image, probability, mask, valid=scene.valid))
    polygons = mask_to_polygons(mask, scene.georef, min_area_px=min_area_px,
                                simplify_px=simplify_pixels(simplify_m, scene.georef))
    vectors = write_polygons(out, stem, polygons, scene.georef, probability, mask)
    return mapped_result(clf, probability=str(prob_path), mask=str(mask_path), vectors=vectors,
                         overlay=str(overlay_path), seconds=time.perf_counter() - t0, map_seconds=map_seconds,
                         avalanches=len(polygons), avalanche_fraction=float(mask.mean()), height=int(mask.shape[0]),
                         width=int(mask.shape[1]), georef=scene.georef, refine=refine, windowed=False) | inputs


# ------------------------------------------------------------------------------------------------ evaluation

def evaluate_scenes(classifier: WindowClassifier, scenes: list[Scene], *, refine: str = "none",
                    threshold: float | None = None, config: AvalancheConfig | None = None,
                    precision: str = "fp32", head: XGBoostHead | None = None,
                    min_area_px: int = MIN_AREA_PX) -> dict[str, Any]:
    """Pixel scores (`pixel_*` and their bare aliases) and object scores (`object_*`, see `metrics`: objects of at
    least `min_area_px` pixels, the polygons `predict` delivers) per image and overall (overall = pooled pixel
    and object counts); nodata pixels are not scored."""
    t0 = time.perf_counter()
    per_image, total, objects = [], {"tp": 0, "fp": 0, "fn": 0, "tn": 0}, {}
    if refine == "xgb" and head is None:
        head = _head_of(classifier)
    for s in scenes:
        if s.avalanche_mask is None:
            raise UserError(f"image {s.name} has no mask to evaluate against")
        check_scene(classifier, s)
        _, mask = map_scene(classifier, model_input(classifier, s), refine=refine, threshold=threshold, config=config,
                            precision=precision, head=head, desc=s.name)
        c = pixel_counts(mask, s.avalanche_mask, s.valid)
        o = object_counts(mask, s.avalanche_mask, s.valid, min_area_px=min_area_px)
        total = {k: total[k] + c[k] for k in total}
        objects = {k: objects.get(k, 0) + o[k] for k in o}
        per_image.append({"image": s.name, **scores(c), **object_scores(o),
                          "avalanche_pixels": int(s.avalanche_mask.sum()), "predicted_pixels": int(mask.sum()),
                          "objects": o})
    return {**scores(total), **object_scores(objects), "images": per_image, "pixels": sum(total.values()),
            "counts": total, "object_counts": objects, "min_area_px": min_area_px,
            "seconds": round(time.perf_counter() - t0, 3)}


def evaluate_checkpoint(checkpoint: str | Path, data: str | Path, *, split: str = "all", refine: str = "none",
                        threshold: float | None = None, precision: str = "fp32",
                        bands: BandSelection | str | list | None = None,
                        labels: str | Path | None = None, min_area_px: int = MIN_AREA_PX) -> dict[str, Any]:
    """`nivalis avalanche evaluate`: score a checkpoint on a folder (all scenes, or the checkpoint's test split)."""
    clf = load_classifier(checkpoint)
    cfg = AvalancheConfig.from_dict(clf.meta.get("config", {}))
    scenes = load_model_scenes(clf, data, bands=bands, threshold=cfg.mask_threshold, labels=labels)
    if split != "all":
        if split not in ("train", "val", "test"):
            raise UserError(f"--split must be all, train, val or test (got {split!r})")
        names = set(clf.meta.get("splits", {}).get(split, []))
        scenes = [s for s in scenes if s.name in names]
        if not scenes:
            raise UserError(f"none of the checkpoint's {split} scenes is in {data}")
    result = evaluate_scenes(clf, scenes, refine=refine, threshold=threshold, config=cfg, precision=precision,
                             min_area_px=min_area_px)
    result.update({"model": clf.model_name, "window": clf.window, "channels": clf.channels, "split": split,
                   "refine": refine})
    return result
