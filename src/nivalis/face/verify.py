r"""Face verification as insightface reports it (`recognition/arcface_torch/eval/verification.py`).

Embeddings: the backbone's embedding of each image plus that of its horizontal flip, summed, then
L2-normalised. Pair k compares images 2k and 2k+1 by the squared distance
:math:`d = \lVert e_1 - e_2\rVert^2 \in [0, 4]`; a pair is called "same" when :math:`d` is below a threshold.

- **Accuracy**: 10-fold cross-validation over the pairs in file order (`KFold` without shuffling). For each
  fold the threshold on the grid 0, 0.01, …, 3.99 with the best accuracy on the other 9 folds is applied to
  the held-out fold; the result is the mean ± standard deviation (population, `np.std`) of the 10 fold
  accuracies. The ROC is the fold-mean TPR and FPR on the same grid.
- **TAR@FAR** (insightface's `calculate_val`, FAR target 1e-3): on the grid 0, 0.001, …, 3.999 the training
  folds' FAR is computed per threshold; the threshold at the target FAR is read off that curve exactly as
  insightface's `interpolate.interp1d(far_train, thresholds, kind="slinear")` does under SciPy ≤ 1.8 (0 if
  the target is never reached), and TAR and FAR are measured with it on the held-out fold and averaged.
  SciPy ≤ 1.8 builds the degree-1 B-spline with knots :math:`t = (f_0, f_0, f_1, …, f_{n-1}, f_{n-1})` and
  coefficients = thresholds, duplicates (the FAR curve's plateaus) included, and evaluates it in the knot
  interval :math:`t_l \le x < t_{l+1}` (largest such :math:`l`, at most :math:`n-1`): with :math:`i` the
  last grid index whose FAR is :math:`\le x`, the threshold is the straight line between
  :math:`(f_i, \tau_i)` and :math:`(f_{i+1}, \tau_{i+1})` — the largest threshold of the plateau below the
  target and the smallest of the plateau above it — and 0 when that interval is empty (:math:`f_i = f_{i+1}`,
  de Boor's rule for a zero-length knot span). Current SciPy refuses the repeated values, so the rule is
  written out here (`slinear_at`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from nivalis.errors import UserError

__all__ = ["embed_with_flip", "evaluate_pairs", "kfold", "roc_csv", "slinear_at", "verification_metrics"]

ACC_THRESHOLDS = np.arange(0, 4, 0.01)
VAL_THRESHOLDS = np.arange(0, 4, 0.001)


def kfold(n: int, folds: int = 10) -> list[tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's `KFold(n_splits=folds, shuffle=False)` over `n` items: (train indices, test indices)."""
    if n < folds:
        raise UserError(f"{n} pairs cannot be split into {folds} folds")
    sizes = np.full(folds, n // folds)
    sizes[: n % folds] += 1
    out, start, idx = [], 0, np.arange(n)
    for size in sizes:
        test = idx[start:start + size]
        out.append((np.concatenate([idx[:start], idx[start + size:]]), test))
        start += size
    return out


def _rates(thresholds: np.ndarray, dist: np.ndarray, issame: np.ndarray) -> tuple[np.ndarray, ...]:
    """TPR, FPR and accuracy of `dist < t` for every threshold t (exact counts via sorted distances)."""
    same, diff = np.sort(dist[issame]), np.sort(dist[~issame])
    tp = np.searchsorted(same, thresholds, side="left")
    fp = np.searchsorted(diff, thresholds, side="left")
    tn, fn = len(diff) - fp, len(same) - tp
    tpr = np.where(tp + fn == 0, 0.0, tp / np.maximum(tp + fn, 1))
    fpr = np.where(fp + tn == 0, 0.0, fp / np.maximum(fp + tn, 1))
    return tpr, fpr, (tp + tn) / dist.size


def slinear_at(x: np.ndarray, y: np.ndarray, target: float) -> float:
    """SciPy ≤ 1.8's `interp1d(x, y, kind="slinear")(target)` for non-decreasing `x` with repeats (module docstring)."""
    n = len(x)
    if n < 2:
        raise ValueError("slinear interpolation needs two points")
    # knot interval l in [1, n-1] with t[l] <= target < t[l+1], t[j] = x[j-1]: data points l-1 and l
    l = int(np.clip(np.searchsorted(x, target, side="right"), 1, n - 1))
    xa, xb = float(x[l - 1]), float(x[l])
    if xa == xb:
        return 0.0
    return float((y[l - 1] * (xb - target) + y[l] * (target - xa)) / (xb - xa))


def _threshold_at_far(thresholds: np.ndarray, far: np.ndarray, target: float) -> float:
    if far.max() < target:
        return 0.0
    return slinear_at(far, thresholds, target)


def verification_metrics(dist: np.ndarray, issame: np.ndarray, *, folds: int = 10,
                         far_target: float = 1e-3) -> dict:
    """insightface's 10-fold protocol on squared pair distances → accuracy ± std, TAR@FAR, ROC (see the module)."""
    dist = np.asarray(dist, dtype=np.float64).reshape(-1)
    issame = np.asarray(issame, dtype=bool).reshape(-1)
    if dist.shape != issame.shape:
        raise UserError(f"{dist.size} distances for {issame.size} pair labels")
    splits = kfold(dist.size, folds)
    accuracy, tprs, fprs, thresholds = [], [], [], []
    vals, fars = [], []
    for train, test in splits:
        _, _, acc_train = _rates(ACC_THRESHOLDS, dist[train], issame[train])
        best = ACC_THRESHOLDS[int(np.argmax(acc_train))]
        tpr, fpr, _ = _rates(ACC_THRESHOLDS, dist[test], issame[test])
        tprs.append(tpr)
        fprs.append(fpr)
        accuracy.append(float(_rates(np.array([best]), dist[test], issame[test])[2][0]))
        thresholds.append(float(best))
        _, far_train, _ = _rates(VAL_THRESHOLDS, dist[train], issame[train])
        t = _threshold_at_far(VAL_THRESHOLDS, far_train, far_target)
        val, far, _ = _rates(np.array([t]), dist[test], issame[test])
        vals.append(float(val[0]))
        fars.append(float(far[0]))
    return {
        "accuracy": float(np.mean(accuracy)), "accuracy_std": float(np.std(accuracy)),
        "tar_at_far": float(np.mean(vals)), "tar_std": float(np.std(vals)), "far": float(np.mean(fars)),
        "far_target": far_target, "folds": folds, "pairs": int(dist.size),
        "threshold": float(np.mean(thresholds)), "fold_accuracy": accuracy,
        "roc": {"fpr": np.mean(fprs, axis=0), "tpr": np.mean(tprs, axis=0), "thresholds": ACC_THRESHOLDS.copy()},
    }


def evaluate_pairs(embeddings: np.ndarray | torch.Tensor, issame, **kw) -> dict:
    """Metrics of L2-normalised embeddings (2P, d) whose rows 2k, 2k+1 form pair k (`verification_metrics`)."""
    emb = torch.as_tensor(embeddings, dtype=torch.float64)
    if emb.ndim != 2 or emb.shape[0] < 2 * len(issame):
        raise UserError(f"need 2 embeddings per pair: {list(emb.shape)} for {len(issame)} pairs")
    emb = F.normalize(emb, dim=1).numpy()
    dist = np.sum(np.square(emb[0:2 * len(issame):2] - emb[1:2 * len(issame):2]), axis=1)
    return verification_metrics(dist, np.asarray(issame, dtype=bool), **kw)


@torch.no_grad()
def embed_with_flip(backbone: nn.Module | Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, *,
                    batch_size: int = 128, flip: bool = True) -> torch.Tensor:
    """L2-normalised embedding(image) + embedding(horizontal flip) for (N, C, H, W) inputs, in eval mode."""
    was_training = getattr(backbone, "training", False)
    if isinstance(backbone, nn.Module):
        backbone.eval()
        param = next(backbone.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    else:
        device = torch.device("cpu")
    out = []
    try:
        for start in range(0, images.shape[0], batch_size):
            x = images[start:start + batch_size].to(device)
            e = backbone(x).float()
            if flip:
                e = e + backbone(torch.flip(x, dims=[3])).float()
            out.append(e.cpu())
    finally:
        if isinstance(backbone, nn.Module):
            backbone.train(was_training)
    if not out:
        raise UserError("no images to embed")
    return F.normalize(torch.cat(out), dim=1)


def roc_csv(roc: dict) -> str:
    """The ROC of `verification_metrics` (`thresholds`, fold-mean `fpr` and `tpr`) as CSV, one row per threshold."""
    rows = [f"{t:.2f},{f:.6g},{p:.6g}" for t, f, p in zip(roc["thresholds"], roc["fpr"], roc["tpr"])]
    return "threshold,fpr,tpr\n" + "\n".join(rows) + "\n"
