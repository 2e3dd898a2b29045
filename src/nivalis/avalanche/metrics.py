"""Pixel and object scores of an avalanche map against its reference mask.

Pixel scores (`pixel_*`; the bare `iou`, `f1`, `pod`, `ppv`, `accuracy` are aliases of them) count pixels:

.. math::
    \\mathrm{IoU} = \\frac{TP}{TP + FP + FN},\\quad F_1 = \\frac{2TP}{2TP + FP + FN},\\quad
    \\mathrm{POD} = \\frac{TP}{TP + FN},\\quad \\mathrm{PPV} = \\frac{TP}{TP + FP}.

Object scores count avalanches as inventories do, and objects are what `vectorize` delivers as polygons: a
4-connected region of at least `min_area_px` pixels (`MIN_AREA_PX`, `--min-area`). A reference avalanche is
such a region :math:`A` of the (valid) reference mask; it is *detected* at coverage :math:`c` when the
predicted objects :math:`M` (such regions of the predicted mask: the delivered polygons) cover
:math:`|A \\cap M| \\ge c\\,|A|`, :math:`c \\in \\{0.5, 0.7, 0.8\\}`. A predicted object is a *false alarm*
when it shares no pixel with the reference mask:

.. math::
    \\mathrm{POD}_c = \\frac{\\#\\text{detected}_c}{\\#\\text{reference}},\\quad
    \\mathrm{PPV} = \\frac{\\#\\text{predicted} - \\#\\text{false alarms}}{\\#\\text{predicted}},\\quad
    F_{1,c} = \\frac{2\\,\\mathrm{POD}_c\\,\\mathrm{PPV}}{\\mathrm{POD}_c + \\mathrm{PPV}}.

Keys: `object_pod`, `object_ppv`, `object_f1` at 50 % coverage, `object_pod_70`, `object_f1_70`, ... at
70 % and 80 % (`object_ppv_70` = `object_ppv`: false alarms do not depend on coverage).

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


def _ratio(a, b):
    return a / b if b else None


def scores(counts: dict[str, int]) -> dict[str, float | None]:
    """pixel_accuracy, pixel_iou, pixel_f1, pixel_pod (recall), pixel_ppv (precision), and the same without
    `pixel_` (aliases); None where undefined (e.g. no avalanche and none predicted)."""
    tp, fp, fn, tn = counts["tp"], counts["fp"], counts["fn"], counts["tn"]
    pixel = {"accuracy": _ratio(tp + tn, tp + fp + fn + tn), "iou": _ratio(tp, tp + fp + fn),
             "f1": _ratio(2 * tp, 2 * tp + fp + fn), "pod": _ratio(tp, tp + fn), "ppv": _ratio(tp, tp + fp)}
    return {f"pixel_{k}": v for k, v in pixel.items()} | pixel


COVERAGES = (0.5, 0.7, 0.8)
#: smallest object (and delivered polygon) in pixels: `predict --min-area` and `evaluate --min-area` default
MIN_AREA_PX = 16


def objects(mask: np.ndarray, min_area_px: int = MIN_AREA_PX) -> tuple[np.ndarray, int]:
    """(labels 1..n, n) of the 4-connected True regions of `mask` of at least `min_area_px` pixels (0 elsewhere):
    the regions `vectorize.mask_to_polygons` outlines."""
    from scipy import ndimage

    labels, n = ndimage.label(mask)  # the default structure is 4-connected
    if n and min_area_px > 1:
        area = np.bincount(labels.ravel(), minlength=n + 1)
        keep = area >= min_area_px
        keep[0] = False
        renumber = np.zeros(n + 1, labels.dtype)
        renumber[keep] = np.arange(1, int(keep.sum()) + 1)
        labels, n = renumber[labels], int(keep.sum())
    return labels, int(n)


def object_counts(predicted: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None,
                  coverages: tuple[float, ...] = COVERAGES, min_area_px: int = MIN_AREA_PX) -> dict[str, int]:
    """Reference avalanches, those detected at each coverage (`detected_50`, ...), predicted objects and
    false alarms (see the module docstring); nodata pixels belong to no object. Objects are 4-connected
    regions of at least `min_area_px` pixels, as the delivered polygons."""
    p, t = predicted.astype(bool), truth.astype(bool)
    if valid is not None:
        p, t = p & valid, t & valid
    ref, n_ref = objects(t, min_area_px)
    pred, n_pred = objects(p, min_area_px)
    delivered = pred > 0  # coverage by the delivered objects only
    out = {"reference": int(n_ref), "predicted": int(n_pred)}
    if n_ref:
        area = np.bincount(ref.ravel(), minlength=n_ref + 1)[1:]
        covered = np.bincount(ref[delivered], minlength=n_ref + 1)[1:]
        for c in coverages:
            out[f"detected_{round(c * 100)}"] = int(np.count_nonzero(covered >= c * area))
    else:
        out.update({f"detected_{round(c * 100)}": 0 for c in coverages})
    hits = np.unique(pred[t & delivered])  # touching any reference pixel, even of a region below min_area_px
    out["false_alarms"] = int(n_pred - np.count_nonzero(hits))
    return out


def object_scores(counts: dict[str, int], coverages: tuple[float, ...] = COVERAGES) -> dict[str, float | None]:
    """object_pod/ppv/f1 at each coverage (no suffix at 50 %, `_70`, `_80`); None where undefined."""
    ppv = _ratio(counts["predicted"] - counts["false_alarms"], counts["predicted"])
    out: dict[str, float | None] = {}
    for c in coverages:
        pct = round(c * 100)
        suffix = "" if pct == 50 else f"_{pct}"
        pod = _ratio(counts[f"detected_{pct}"], counts["reference"])
        f1 = None if pod is None or ppv is None else (2 * pod * ppv / (pod + ppv) if pod + ppv else 0.0)
        out |= {f"object_pod{suffix}": pod, f"object_ppv{suffix}": ppv, f"object_f1{suffix}": f1}
    return out


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
