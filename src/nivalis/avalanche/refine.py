"""Refinement of seed 002 §3.2–§4.2: Gaussian pyramid, Canny edge enhancement with a second prediction,
max filter + binary threshold, and an XGBoost head on the CNN's outputs.

**Gaussian pyramid** (§3.2): blur with the 5×5 binomial kernel, keep every second row and column,

.. math::
    G_{l+1} = \\big(K * G_l\\big)[::2, ::2],\\qquad
    K = \\tfrac{1}{256}\\,[1\\;4\\;6\\;4\\;1]^\\top [1\\;4\\;6\\;4\\;1]

(the seed prints :math:`\\tfrac1{16}`, but its entries sum to 256; see `config.PYRAMID_KERNEL_1D`).

**Two-pass edge refinement** (§4.2): a first dense prediction :math:`p_1`; Canny edges
:math:`E = \\mathrm{Canny}(255 p_1)`; the image is edge-enhanced (unsharp masking,
:math:`V' = V + g\\,(V - K * V)`) inside a band of `edge_band` px around :math:`E`, where the first
prediction says boundaries are; a second prediction :math:`p_2` on :math:`V'`; the final mask is
:math:`\\mathbb 1[\\max_{N(i,j)} p_2 \\ge t]`, a max filter over a `max_filter`-px neighbourhood followed by
the binary threshold :math:`t`.

The two stages are calibrated apart: :math:`t_1` (the first map's threshold) and :math:`t_2` (the threshold
of the max-filtered second map) are each the best-F1 threshold on the validation scenes' maps of their own
stage (`calibrate_edges_threshold`). Reusing :math:`t_1` on the max-filtered :math:`p_2` over-marks every
boundary, since a max filter only raises probabilities.

**XGBoost head** (§3.3): gradient-boosted trees fitted on what the CNN computes for each pixel — the
hidden activations entering its last layer, its probability, and the probability's local mean and
maximum over 9 and 17 px — on class-balanced pixels of scenes the CNN was *not* trained on (the
validation scenes), so the trees learn how far to trust the CNN rather than its training fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from nivalis.avalanche.config import PYRAMID_KERNEL_1D, AvalancheConfig
from nivalis.errors import UserError


def binomial_kernel() -> np.ndarray:
    """The seed's 5×5 Gaussian-pyramid kernel, normalised to sum 1."""
    k = np.asarray(PYRAMID_KERNEL_1D)
    return np.outer(k, k) / np.outer(k, k).sum()


def pyramid_down(image: np.ndarray) -> np.ndarray:
    """One pyramid level: binomial blur (reflect-101 borders, as OpenCV) then every second row/column."""
    import cv2

    blurred = cv2.filter2D(image.astype(np.float32), -1, binomial_kernel().astype(np.float32),
                           borderType=cv2.BORDER_REFLECT_101)
    if blurred.ndim == 2 and image.ndim == 3:
        blurred = blurred[..., None]
    return as_dtype(blurred[::2, ::2], image.dtype)


def as_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float results back to the image's dtype: rounded and clipped to its range for integers."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.round(values), info.min, info.max).astype(dtype)
    return values.astype(dtype)


def gaussian_pyramid(image: np.ndarray, levels: int) -> list[np.ndarray]:
    """[G_0 = image, G_1, ..., G_levels]; each level halves height and width (rounding up)."""
    pyramid = [image]
    for _ in range(levels):
        if min(pyramid[-1].shape[:2]) < 2:
            raise UserError(f"image too small for {levels} pyramid levels")
        pyramid.append(pyramid_down(pyramid[-1]))
    return pyramid


def canny_edges(probability: np.ndarray, low: int = 50, high: int = 150) -> np.ndarray:
    """Canny edges (bool) of a probability map scaled to 0..255."""
    import cv2

    return cv2.Canny(np.clip(probability * 255.0, 0, 255).astype(np.uint8), low, high) > 0


def edge_enhance(image: np.ndarray, edges: np.ndarray, gain: float = 1.5, band: int = 5) -> np.ndarray:
    """Unsharp-mask `image` within `band` px of `edges`: V' = V + gain (V − K*V), K the binomial kernel."""
    import cv2

    if not edges.any():
        return image.copy()
    near = ndimage.binary_dilation(edges, iterations=max(1, band))
    img = image.astype(np.float32)
    blurred = cv2.filter2D(img, -1, binomial_kernel().astype(np.float32), borderType=cv2.BORDER_REFLECT_101)
    if blurred.ndim == 2:
        blurred = blurred[..., None]
    sharp = img + gain * (img - blurred)
    out = np.where(near[..., None], sharp, img)
    return as_dtype(out, image.dtype)


def max_filter_threshold(probability: np.ndarray, size: int = 5, threshold: float = 0.5) -> np.ndarray:
    """Binary mask: the maximum over a size × size neighbourhood is ≥ `threshold` (§4.2)."""
    filtered = ndimage.maximum_filter(probability, size=size, mode="nearest") if size > 1 else probability
    return filtered >= threshold


@dataclass
class EdgeRefinement:
    first: np.ndarray        # p1 [H, W]
    edges: np.ndarray        # Canny edges of p1 (bool)
    enhanced: np.ndarray     # edge-enhanced image [H, W, C], the input's dtype
    second: np.ndarray       # p2 [H, W]
    mask: np.ndarray         # max filter + threshold of p2 (bool)


def refine_with_edges(classifier, image: np.ndarray, config: AvalancheConfig | None = None, *,
                      first: np.ndarray | None = None, precision: str = "fp32") -> EdgeRefinement:
    """The seed's two-pass refinement (§4.2); `first` reuses an already computed first prediction."""
    from nivalis.avalanche.dense import predict_probability
    from nivalis.avalanche.io.raster import to_channels

    cfg = config or AvalancheConfig()
    image = to_channels(image if image.ndim == 3 else image[..., None], classifier.channels)
    p1 = first if first is not None else predict_probability(classifier, image, tile=cfg.tile, precision=precision,
                                                             desc="first prediction")
    edges = canny_edges(p1, cfg.canny_low, cfg.canny_high)
    enhanced = edge_enhance(image, edges, cfg.edge_gain, cfg.edge_band)
    p2 = predict_probability(classifier, enhanced, tile=cfg.tile, precision=precision, desc="second prediction")
    return EdgeRefinement(p1, edges, enhanced, p2, max_filter_threshold(p2, cfg.max_filter, cfg.threshold))


# ------------------------------------------------------------------------------------------- XGBoost head

def calibrate_edges_threshold(classifier, scenes, config: AvalancheConfig, first_maps: list[np.ndarray]) -> float:
    """:math:`t_2`: the best-F1 threshold of the max-filtered second prediction on `scenes` (validation ones).

    `first_maps` are the first-stage maps of the same scenes (reused, not recomputed). Nodata pixels
    (`scene.valid_mask` False) are not scored.
    """
    from nivalis.avalanche.metrics import best_threshold

    filtered = []
    for scene, p1 in zip(scenes, first_maps):
        r = refine_with_edges(classifier, scene.image, config, first=p1)
        filtered.append(ndimage.maximum_filter(r.second, size=config.max_filter)[scene.valid_mask])
    return best_threshold(filtered, [s.avalanche_mask[s.valid_mask] for s in scenes])


def head_features(probability: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """Per-pixel features [H·W, F]: CNN hidden activations, p, local mean and max of p over 9 and 17 px."""
    context = [probability]
    for size in (9, 17):
        context.append(ndimage.uniform_filter(probability, size, mode="nearest"))
        context.append(ndimage.maximum_filter(probability, size, mode="nearest"))
    stacked = np.concatenate([hidden, np.stack(context, axis=-1)], axis=-1)
    return stacked.reshape(-1, stacked.shape[-1]).astype(np.float32)


class XGBoostHead:
    """Gradient-boosted trees on CNN outputs (§3.3); serialisable to a JSON string for the checkpoint."""

    def __init__(self, trees: int = 100, depth: int = 4, seed: int = 0):
        self.trees, self.depth, self.seed = trees, depth, seed
        self.booster = None

    def fit(self, features: np.ndarray, labels: np.ndarray) -> XGBoostHead:
        import xgboost as xgb

        model = xgb.XGBClassifier(n_estimators=self.trees, max_depth=self.depth, learning_rate=0.1, subsample=0.8,
                                  n_jobs=2, random_state=self.seed, tree_method="hist")
        model.fit(features, labels.astype(np.int32))
        self.booster = model.get_booster()
        return self

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """P(avalanche) per row of `features`."""
        if self.booster is None:
            raise RuntimeError("XGBoostHead is not fitted")
        return np.asarray(self.booster.inplace_predict(features), dtype=np.float32)

    def predict_map(self, probability: np.ndarray, hidden: np.ndarray) -> np.ndarray:
        return self.predict_proba(head_features(probability, hidden)).reshape(probability.shape)

    def to_json(self) -> str:
        return bytes(self.booster.save_raw("json")).decode("utf-8")

    @classmethod
    def from_json(cls, text: str) -> XGBoostHead:
        import xgboost as xgb

        head = cls()
        head.booster = xgb.Booster()
        try:
            head.booster.load_model(bytearray(text.encode("utf-8")))
        except (xgb.core.XGBoostError, ValueError) as exc:
            raise UserError(f"corrupt XGBoost head in checkpoint: {str(exc).splitlines()[0][:120]}") from None
        return head


def sample_balanced_pixels(masks: list[np.ndarray], n: int, seed: int = 0) -> list[np.ndarray]:
    """Flat pixel indices per scene: about n/2 avalanche and n/2 other pixels over all scenes."""
    rng = np.random.default_rng(seed)
    total_pos = sum(int(m.sum()) for m in masks)
    total_neg = sum(int((~m).sum()) for m in masks)
    picks = []
    for m in masks:
        flat = m.ravel()
        pos, neg = np.flatnonzero(flat), np.flatnonzero(~flat)
        k_pos = min(len(pos), int(round(n / 2 * len(pos) / max(total_pos, 1))))
        k_neg = min(len(neg), int(round(n / 2 * len(neg) / max(total_neg, 1))))
        picks.append(np.concatenate([rng.choice(pos, k_pos, replace=False) if k_pos else pos[:0],
                                     rng.choice(neg, k_neg, replace=False) if k_neg else neg[:0]]))
    return picks


def fit_xgboost_head(classifier, scenes, config: AvalancheConfig | None = None) -> XGBoostHead:
    """Fit the head on balanced pixels of `scenes` (held out from the CNN's training)."""
    from nivalis.avalanche.dense import predict_probability

    cfg = config or AvalancheConfig()
    masks = [s.avalanche_mask for s in scenes]
    if not any(m.any() for m in masks):
        raise UserError("the XGBoost head needs avalanche pixels in its (validation) scenes")
    picks = sample_balanced_pixels(masks, cfg.xgb_pixels, cfg.seed)
    xs, ys = [], []
    for scene, pick in zip(scenes, picks):
        if not len(pick):
            continue
        p, hidden = predict_probability(classifier, scene.image, tile=cfg.tile, features=True, desc="head features")
        xs.append(head_features(p, hidden)[pick])
        ys.append(scene.avalanche_mask.ravel()[pick])
    return XGBoostHead(cfg.xgb_trees, cfg.xgb_depth, cfg.seed).fit(np.concatenate(xs), np.concatenate(ys))
