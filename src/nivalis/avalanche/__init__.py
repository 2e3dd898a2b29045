"""Avalanche mapping in satellite scenes (seed 002, CAIC): window CNNs evaluated densely over whole images.

Python API (mirrors `nivalis avalanche ...`)::

    from nivalis.avalanche import load_classifier, load_scene, predict_probability, predict_image
    clf = load_classifier("runs/avalanche-cnn-33x33x3/checkpoint.pt")
    p = predict_probability(clf, load_scene("scene.tif").image)   # [H, W], = window-by-window σ(f(X_ij))
    predict_image("scene.tif", clf, "out/")                        # GeoTIFFs, overlay PNG, GeoJSON polygons
"""

from nivalis.avalanche.config import AvalancheConfig
from nivalis.avalanche.dense import predict_probability, predict_windows
from nivalis.avalanche.io import GeoRef, Scene, load_scene, load_scenes
from nivalis.avalanche.models import WindowClassifier, build_classifier, load_classifier
from nivalis.avalanche.predict import evaluate_checkpoint, evaluate_scenes, map_scene, predict_image
from nivalis.avalanche.simulate import simulate_dataset
from nivalis.avalanche.train import train_window_classifier
from nivalis.avalanche.vectorize import mask_to_polygons

__all__ = [
    "AvalancheConfig", "GeoRef", "Scene", "WindowClassifier", "build_classifier", "evaluate_checkpoint",
    "evaluate_scenes", "load_classifier", "load_scene", "load_scenes", "map_scene", "mask_to_polygons",
    "predict_image", "predict_probability", "predict_windows", "simulate_dataset", "train_window_classifier",
]
