"""The pipeline: scene splits, pixel scores, threshold calibration, learning, predict → GeoTIFF/GeoJSON, evaluate."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import rasterio
import shapely
from pyogrio.raw import read
from shapely.geometry import box

from nivalis.avalanche.config import AvalancheConfig
from nivalis.avalanche.io import Scene, load_scenes
from nivalis.avalanche.metrics import best_threshold, pixel_counts, scores
from nivalis.avalanche.predict import evaluate_checkpoint, evaluate_scenes, map_scene, predict_image
from nivalis.avalanche.train import split_scenes, train_window_classifier
from nivalis.errors import UserError
from nivalis.experiments.avalanche_models import ModelSpec, compare_models


def _blob_scenes(n=8, size=64, seed=0):
    """Learnable scenes: bright rough blobs (avalanche debris) on smooth darker snow with dark rocks."""
    rng = np.random.default_rng(seed)
    scenes = []
    for k in range(n):
        image = rng.normal(120, 6, (size, size)).astype(np.float32)
        mask = np.zeros((size, size), bool)
        for _ in range(2):
            r, c, rad = *rng.integers(10, size - 10, 2), int(rng.integers(5, 9))
            cv2.circle(mask.view(np.uint8), (int(c), int(r)), rad, 1, -1)
        image[mask] = rng.normal(190, 25, int(mask.sum()))
        for _ in range(3):  # distractors: dark rocks
            r, c = rng.integers(0, size, 2)
            cv2.circle(image, (int(c), int(r)), 3, 40.0, -1)
        scenes.append(Scene(f"b{k}", np.clip(image, 0, 255).astype(np.uint8)[..., None], mask))
    return scenes


def test_split_is_by_scene_and_training_gets_an_avalanche():
    scenes = [Scene(f"s{k:02d}", np.zeros((4, 4, 1), np.uint8), np.zeros((4, 4), bool)) for k in range(20)]
    scenes[19].avalanche_mask[1, 1] = True
    for seed in range(5):
        names = split_scenes(scenes, (0.7, 0.15, 0.15), seed=seed).names()
        assert [len(v) for v in names.values()] == [14, 3, 3]
        assert not set(names["train"]) & set(names["test"]) and not set(names["train"]) & set(names["val"])
        assert "s19" in names["train"]
    with pytest.raises(UserError, match="no scene has an avalanche"):
        split_scenes(scenes[:19], seed=0)


def test_scores_and_undefined_ratios():
    s = scores({"tp": 30, "fp": 10, "fn": 20, "tn": 940})
    assert s["accuracy"] == pytest.approx(0.97) and s["iou"] == pytest.approx(0.5) and s["f1"] == pytest.approx(2 / 3)
    assert s["pod"] == pytest.approx(0.6) and s["ppv"] == pytest.approx(0.75)
    empty = scores({"tp": 0, "fp": 0, "fn": 0, "tn": 100})
    assert empty["accuracy"] == 1.0 and empty["iou"] is None and empty["pod"] is None


def test_best_threshold_finds_the_separating_value():
    truth = np.zeros(1000, bool)
    truth[:100] = True
    p = np.where(truth, 0.9, 0.6)
    p[100:110] = 0.95  # a few confident false alarms
    assert best_threshold([p], [truth]) == pytest.approx(0.65, abs=0.05)


def test_training_learns_and_dense_maps_score_well(tmp_path):
    scenes = _blob_scenes()
    cfg = AvalancheConfig(epochs=3, windows_per_epoch=1024, val_windows=256, batch_size=32)
    run = train_window_classifier(scenes, "cnn", window=17, channels=1, config=cfg, out_dir=tmp_path)
    assert run.history[0]["train_loss"] > run.history[-1]["train_loss"]
    assert run.result["accuracy"] > 0.9  # balanced test windows: chance is 0.5
    ev = evaluate_scenes(run.classifier, run.split.test, config=cfg)
    assert ev["f1"] > 0.7 and ev["iou"] > 0.5 and len(ev["images"]) == len(run.split.test)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["checkpoint"] == str(tmp_path / "checkpoint.pt") and 0.05 <= saved["threshold"] <= 0.95
    # the second (Canny) stage has its own threshold, calibrated on its own max-filtered maps: it scores at
    # least as well on the validation scenes as the first stage's threshold reused on them
    from scipy import ndimage

    from nivalis.avalanche.refine import refine_with_edges

    t1, t2 = saved["threshold"], saved["edges_threshold"]
    assert 0.0 < t2 <= 1.0 and run.classifier.meta["edges_threshold"] == t2
    val = run.split.val
    filtered = [ndimage.maximum_filter(refine_with_edges(run.classifier, s.image, cfg).second, size=cfg.max_filter)
                for s in val]
    flat = np.concatenate([f.ravel() for f in filtered])
    truth = np.concatenate([s.avalanche_mask.ravel() for s in val])
    f1 = {t: scores(pixel_counts(flat >= t, truth))["f1"] for t in (t1, t2)}
    assert f1[t2] >= f1[t1] - 1e-9
    _, mask = map_scene(run.classifier, val[0].image, refine="edges", config=cfg)  # t2 is the one applied
    np.testing.assert_array_equal(mask, filtered[0] >= t2)


def test_pyramid_level_training_maps_at_full_size():
    scenes = _blob_scenes(n=6, size=96, seed=1)
    cfg = AvalancheConfig(epochs=2, windows_per_epoch=512, val_windows=128, pyramid_levels=1)
    run = train_window_classifier(scenes, "cnn", window=9, channels=1, config=cfg)
    probability, mask = map_scene(run.classifier, scenes[0].image, config=cfg)
    assert probability.shape == mask.shape == (96, 96)
    ev = evaluate_scenes(run.classifier, run.split.test, config=cfg)
    assert ev["pixels"] == 96 * 96 * len(run.split.test) and ev["f1"] > 0.5


@pytest.fixture(scope="module")
def trained(scene_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = AvalancheConfig(epochs=1, windows_per_epoch=512, val_windows=128, xgb_pixels=2000, xgb_trees=10)
    run = train_window_classifier(scene_dir, "cnn", window=17, channels=3, config=cfg, out_dir=out, xgb_head=True)
    return run


def test_predict_geotiff_keeps_georeferencing_and_polygons_are_on_the_map(trained, scene_dir, tmp_path):
    geo = next(s for s in load_scenes(scene_dir) if s.georef is not None)
    result = predict_image(geo.image_path, trained.result["checkpoint"], tmp_path, threshold=0.3)
    assert set(result) >= {"probability", "mask", "polygons", "seconds", "overlay"}
    with rasterio.open(result["probability"]) as ds:
        assert ds.crs.to_string() == "EPSG:32613" and tuple(ds.transform)[:6] == geo.georef.transform
        prob = ds.read(1)
        bounds = box(*ds.bounds)
    assert prob.shape == geo.shape and prob.dtype == np.float32 and 0 <= prob.min() and prob.max() <= 1
    with rasterio.open(result["mask"]) as ds:
        mask = ds.read(1)
        assert ds.crs.to_string() == "EPSG:32613"
    assert set(np.unique(mask)) <= {0, 1}  # 1 avalanche, 0 none, 255 nodata (the declared nodata)
    np.testing.assert_array_equal(mask == 1, prob >= 0.3)
    polys = [shapely.from_wkb(g) for g in read(result["gpkg"])[2]]  # the image's CRS
    assert len(polys) == result["avalanches"]
    assert sum(p.area for p in polys) <= (mask == 1).sum() * 4.0 + 1e-6  # 2 m pixels
    for p in polys:
        assert bounds.buffer(1e-6).contains(p)
    assert cv2.imread(result["overlay"]).shape[:2] == geo.shape


def test_evaluate_refinements_and_the_xgboost_head(trained, scene_dir):
    ckpt = trained.result["checkpoint"]
    plain = evaluate_checkpoint(ckpt, scene_dir, split="test")
    assert set(plain) >= {"accuracy", "iou", "f1", "pod", "ppv", "images"} and 0 <= plain["accuracy"] <= 1
    assert [r["image"] for r in plain["images"]] == trained.split.names()["test"]
    for refine in ("edges", "xgb"):
        ev = evaluate_checkpoint(ckpt, scene_dir, split="test", refine=refine)
        assert 0 <= ev["accuracy"] <= 1 and ev["pixels"] == plain["pixels"]
    with pytest.raises(UserError, match="--split"):
        evaluate_checkpoint(ckpt, scene_dir, split="holdout")


def test_compare_models_rows(scene_dir):
    scenes = load_scenes(scene_dir)
    cfg = AvalancheConfig(epochs=1, windows_per_epoch=128, val_windows=64)
    rows, runs = compare_models(scenes, [ModelSpec("cnn1d", 17, 1), ModelSpec("unet", 32, 3)], cfg)
    assert [r["label"] for r in rows] == ["CNN-1D(17,17,1)", "U-Net(32,32,3)"]
    for r in rows:
        assert {"seconds", "loss", "accuracy", "f1", "iou", "pixel_f1"} <= set(r) and r["params"] > 0


def test_object_metrics_count_hand_drawn_avalanches():
    from nivalis.avalanche.metrics import object_counts, object_scores

    truth = np.zeros((40, 40), bool)
    truth[2:12, 2:12] = True      # A: 100 px, predicted 60 % → detected at 50 %, not at 70 / 80 %
    truth[20:30, 2:12] = True     # B: 100 px, predicted 90 % → detected at every coverage
    truth[2:6, 30:34] = True      # C: 16 px, missed
    truth[12, 12] = True          # touches A at a corner only: its own 4-connected region, 1 px < 16
    pred = np.zeros_like(truth)
    pred[2:8, 2:12] = True        # 60 px of A
    pred[20:29, 2:12] = True      # 90 px of B
    pred[34:38, 34:38] = True     # a false alarm (16 px)
    pred[14:16, 30:38] = True     # another false alarm (16 px)
    pred[35:38, 20:25] = True     # 15 px: below --min-area, no polygon, no object
    c = object_counts(pred, truth)
    assert c == {"reference": 3, "predicted": 4, "detected_50": 2, "detected_70": 1, "detected_80": 1,
                 "false_alarms": 2}
    assert object_counts(pred, truth, min_area_px=1) == {"reference": 4, "predicted": 5, "detected_50": 2,
                                                         "detected_70": 1, "detected_80": 1, "false_alarms": 3}
    s = object_scores(c)
    assert s["object_pod"] == pytest.approx(2 / 3) and s["object_pod_70"] == pytest.approx(1 / 3)
    assert s["object_ppv"] == s["object_ppv_80"] == pytest.approx(0.5)
    assert s["object_f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    valid = np.ones_like(truth)
    valid[30:40, 30:40] = False   # the first false alarm lies in nodata: not an object
    assert object_counts(pred, truth, valid)["false_alarms"] == 1
    pixel = scores(pixel_counts(pred, truth))
    assert pixel["pixel_f1"] == pixel["f1"] and pixel["pixel_ppv"] == pixel["ppv"]
