"""Avalanche mapping in satellite scenes (seed 002, CAIC): window CNNs evaluated densely over whole images.

Python API (mirrors `nivalis avalanche ...`)::

    from nivalis.avalanche import load_classifier, load_scene, predict_probability, predict_image
    clf = load_classifier("runs/avalanche-cnn-33x33x3/checkpoint.pt")
    p = predict_probability(clf, load_scene("scene.tif").image)   # [H, W], = window-by-window σ(f(X_ij))
    predict_image("scene.tif", clf, "out/")                        # GeoTIFFs, overlay PNG, GeoJSON polygons
"""

from nivalis.lazy import lazy_exports

_EXPORTS = {
    "AvalancheConfig": ".config",
    "predict_probability": ".dense",
    "predict_windows": ".dense",
    "BandSelection": ".io.raster",
    "GeoRef": ".io.raster",
    "Scene": ".io.layout",
    "load_scene": ".io.layout",
    "load_scenes": ".io.layout",
    "WindowClassifier": ".models",
    "build_classifier": ".models",
    "load_classifier": ".models",
    "evaluate_checkpoint": ".predict",
    "evaluate_scenes": ".predict",
    "map_scene": ".predict",
    "predict_image": ".predict",
    "simulate_dataset": ".simulate",
    "train_from_options": ".train",
    "train_window_classifier": ".train",
    "mask_to_polygons": ".vectorize",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
