"""Pixel scores of an avalanche map against its reference mask, as a forecaster reads them.

.. math::
    \\mathrm{IoU} = \\frac{TP}{TP + FP + FN},\\quad F_1 = \\frac{2TP}{2TP + FP + FN},\\quad
    \\mathrm{POD} = \\frac{TP}{TP + FN},\\quad \\mathrm{PPV} = \\frac{TP}{TP + FP}.

A classifier trained on balanced windows over-calls avalanches at the true (small) prevalence, so the
map's decision threshold is calibrated on the validation scenes (`best_threshold`: the threshold of best
pixel F1) and stored in the checkpoint.
"""

from __future__ import annotations

import numpy as np

# ------------------------------------------------------------------------------------------------ metrics

def pixel_counts(predicted: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None) -> dict[str, int]:
    """TP, FP, FN, TN over the valid pixels (all when `valid` is None): nodata is never scored."""
    p, t = predicted.astype(bool).ravel(), truth.astype(bool).ravel()
    if valid is not None:
        v = valid.astype(bool).ravel()
        p, t = p[v], t[v]
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
