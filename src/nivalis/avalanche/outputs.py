"""What a mapped scene comes with beside its maps: overlay picture, output tags, polygon tolerance, result record.

The result record has the same keys whether the scene was mapped in memory (`predict`) or window by window
(`stream`); both write through these functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nivalis.avalanche.io.raster import GeoRef, display_uint8
from nivalis.avalanche.models import WindowClassifier


def overlay_image(image: np.ndarray, probability: np.ndarray, mask: np.ndarray, truth: np.ndarray | None = None,
                  valid: np.ndarray | None = None) -> np.ndarray:
    """RGB uint8: the image tinted red by probability, predicted outlines in yellow (true ones in cyan).

    Any dtype and band count: the first three bands (or the one) are shown with a display stretch."""
    import cv2

    image = display_uint8(image[..., :3] if image.shape[2] >= 3 else image[..., :1], valid)
    rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
    alpha = (np.float32(0.55) * np.nan_to_num(probability.astype(np.float32)))[..., None]
    out = rgb * (1 - alpha)  # float32: a 4256 × 3694 scene stays a few hundred MB
    out[..., 0] += 255 * alpha[..., 0]
    out = np.ascontiguousarray(out.astype(np.uint8))  # C order for OpenCV, whatever the input layout
    for m, color in ((truth, (0, 255, 255)), (mask, (255, 255, 0))):
        if m is not None and m.any():
            contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(out, contours, -1, color, max(1, round(min(image.shape[:2]) / 400)))
    return out


def simplify_pixels(metres: float, georef: GeoRef | None) -> float:
    """A simplification tolerance in metres as pixels of this grid (metres are pixels without a CRS)."""
    if not metres:
        return 0.0
    if georef is None or not georef.crs:
        return float(metres)
    from rasterio.crs import CRS

    crs = CRS.from_user_input(georef.crs)
    side = float(np.sqrt(georef.pixel_area))
    if crs.is_projected:
        return float(metres) / (side * crs.linear_units_factor[1])
    return float(metres) / (side * 111_320.0)  # degrees: a metre-scale tolerance near the equator's degree


def output_tags(classifier: WindowClassifier, threshold: float, band_names: tuple[str, ...], refine: str) -> dict:
    """GeoTIFF tags of the probability and mask maps: which model, threshold, bands and refinement made them."""
    return {"model": classifier.model_name, "threshold": threshold, "bands": ",".join(band_names), "refine": refine}


def mapped_result(classifier: WindowClassifier, *, probability: str, mask: str, vectors: dict, overlay: str,
                  seconds: float, map_seconds: float, avalanches: int, avalanche_fraction: float, height: int,
                  width: int, georef: GeoRef | None, refine: str, windowed: bool) -> dict[str, Any]:
    """`predict_image`'s result: output paths, timings and what the map holds."""
    return {"probability": probability, "mask": mask, **vectors, "overlay": overlay,
            "seconds": round(seconds, 3), "map_seconds": round(map_seconds, 3), "avalanches": avalanches,
            "avalanche_fraction": round(avalanche_fraction, 6), "height": height, "width": width,
            "crs": georef.crs if georef else None, "model": classifier.model_name, "refine": refine,
            "windowed": windowed}
