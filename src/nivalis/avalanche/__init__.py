"""Avalanche mapping in satellite scenes (seed 002, CAIC): window CNNs evaluated densely over whole images.

Python API (mirrors `nivalis avalanche ...`)::

    from nivalis.avalanche import load_classifier, load_scene, predict_probability, predict_image
    clf = load_classifier("runs/avalanche-cnn-33x33x3/checkpoint.pt")
    p = predict_probability(clf, load_scene("scene.tif").image)   # [H, W], = window-by-window σ(f(X_ij))
    predict_image("scene.tif", clf, "out/")                        # GeoTIFFs, overlay PNG, GeoJSON polygons
"""

from nivalis.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".config": ("AvalancheConfig",),
    ".dense": ("predict_probability", "predict_windows"),
    ".io.raster": ("BandSelection", "GeoRef"),
    ".io.layout": ("Scene", "load_scene", "load_scenes"),
    ".models": ("WindowClassifier", "build_classifier", "load_classifier"),
    ".predict": ("evaluate_checkpoint", "evaluate_scenes", "map_scene", "predict_image"),
    ".simulate": ("simulate_dataset",),
    ".train": ("train_from_options", "train_window_classifier"),
    ".vectorize": ("mask_to_polygons",),
})

