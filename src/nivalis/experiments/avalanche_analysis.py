"""Sunny vs shady colour analysis (seed 002 §4.3) and PCA of window features (§6).

**Histograms** (§4.3, Figure 10): for each image the normalised histogram of every RGB channel
(256 bins) and of hue, saturation and value (OpenCV HSV: H in [0, 180), S, V in [0, 256)),
:math:`h_c(v) = \\#\\{(i, j) : V(i, j, c) = v\\} / (HW)`, compared between sunny and shady scenes. The
seed observed sunny peaks in [200, 250] with overlapping channels, shady peaks in [100, 150] with
separated channels and higher hue and saturation.

A scene's illumination class comes from the simulator's `scenes.json` when present; otherwise from
its brightness: sunny when the median value (V) is at least 170 — between the two peak ranges.

**PCA** (§6): principal components of the window features; the explained-variance ratio
:math:`\\lambda_k / \\sum_l \\lambda_l` and the number of components reaching `pca_variance` (99 %, where
the seed found 9).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nivalis.avalanche.io.layout import Scene
from nivalis.errors import UserError

SUNNY_MEDIAN_VALUE = 170
CHANNEL_COLORS = {"R": "tab:red", "G": "tab:green", "B": "tab:blue", "H": "tab:purple", "S": "tab:orange",
                  "V": "tab:gray"}


@dataclass
class ColorHistograms:
    name: str
    illumination: str
    rgb: np.ndarray   # [3, 256] normalised
    hsv: np.ndarray   # [3, 256] normalised (hue uses bins 0..179)


def color_histograms(scene: Scene, illumination: str) -> ColorHistograms:
    import cv2

    if scene.channels != 3:
        raise UserError(f"image {scene.name} is gray: RGB/HSV histograms need colour images")
    pixels = scene.image.reshape(-1, 3)
    n = pixels.shape[0]
    rgb = np.stack([np.bincount(pixels[:, c], minlength=256) for c in range(3)]) / n
    hsv_img = cv2.cvtColor(np.ascontiguousarray(scene.image), cv2.COLOR_RGB2HSV).reshape(-1, 3)
    hsv = np.stack([np.bincount(hsv_img[:, c], minlength=256)[:256] for c in range(3)]) / n
    return ColorHistograms(scene.name, illumination, rgb, hsv)


def illumination_classes(scenes: list[Scene], data_dir: str | Path | None = None) -> dict[str, str]:
    """name → 'sunny' | 'shady': from `scenes.json` if the folder has one, else by median brightness."""
    known: dict[str, str] = {}
    if data_dir is not None and (Path(data_dir) / "scenes.json").is_file():
        try:
            records = json.loads((Path(data_dir) / "scenes.json").read_text())["scenes"]
            known = {r["name"]: r["illumination"] for r in records if r.get("illumination") in ("sunny", "shady")}
        except (ValueError, KeyError, TypeError):
            known = {}
    out = {}
    for s in scenes:
        if s.name in known:
            out[s.name] = known[s.name]
        else:
            value = s.image.max(axis=2)  # HSV value
            out[s.name] = "sunny" if np.median(value) >= SUNNY_MEDIAN_VALUE else "shady"
    return out


def histogram_summary(hists: list[ColorHistograms]) -> dict:
    """Per class: number of images, peak bin and mean of each RGB channel, mean hue/saturation/value, and
    the channel separation (mean |mean_B − mean_R|), the seed's qualitative observations as numbers."""
    bins = np.arange(256)
    summary = {}
    for cls in ("sunny", "shady"):
        group = [h for h in hists if h.illumination == cls]
        if not group:
            continue
        rgb = np.mean([h.rgb for h in group], axis=0)
        hsv = np.mean([h.hsv for h in group], axis=0)
        means = (rgb * bins).sum(1)
        summary[cls] = {
            "images": len(group),
            "peak": {c: int(rgb[k].argmax()) for k, c in enumerate("RGB")},
            "mean": {c: round(float(means[k]), 1) for k, c in enumerate("RGB")},
            "hsv_mean": {c: round(float((hsv[k] * bins).sum()), 1) for k, c in enumerate("HSV")},
            "channel_separation": round(float(abs(means[2] - means[0])), 1),
        }
    return summary


def histogram_figure(hists: list[ColorHistograms], path: str | Path, per_class: int = 4) -> Path:
    """The seed's Figure 10, extended: up to `per_class` sunny (left) and shady (right) images, RGB and HSV."""
    import matplotlib.pyplot as plt

    from nivalis.figures import save_figure

    sunny = [h for h in hists if h.illumination == "sunny"][:per_class]
    shady = [h for h in hists if h.illumination == "shady"][:per_class]
    rows = max(len(sunny), len(shady), 1)
    fig, axes = plt.subplots(rows, 4, figsize=(14, 2.1 * rows + 0.6), squeeze=False)
    for col0, group, label in ((0, sunny, "sunny"), (2, shady, "shady")):
        for r in range(rows):
            ax_rgb, ax_hsv = axes[r, col0], axes[r, col0 + 1]
            if r >= len(group):
                ax_rgb.axis("off"), ax_hsv.axis("off")
                continue
            h = group[r]
            for k, c in enumerate("RGB"):
                ax_rgb.plot(h.rgb[k], color=CHANNEL_COLORS[c], lw=1, label=c)
            for k, c in enumerate("HSV"):
                if c == "H":  # OpenCV's hue runs 0-179 (degrees / 2): drawn on the same 0-255 axis, rescaled
                    ax_hsv.plot(np.arange(180) * 255 / 179, h.hsv[k][:180], color=CHANNEL_COLORS[c], lw=1,
                                label="H (0–179, rescaled)")
                else:
                    ax_hsv.plot(h.hsv[k], color=CHANNEL_COLORS[c], lw=1, label=c)
            ax_rgb.set_title(f"{label}: {h.name} (RGB)", fontsize=9)
            ax_hsv.set_title(f"{label}: {h.name} (HSV)", fontsize=9)
            for ax in (ax_rgb, ax_hsv):
                ax.set_xlim(0, 255), ax.tick_params(labelsize=7), ax.grid(alpha=0.3)
            if r == 0:
                ax_rgb.legend(fontsize=7), ax_hsv.legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("pixel value", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def sunny_shady(scenes: list[Scene], data_dir: str | Path | None, figure: str | Path, per_class: int = 4) -> dict:
    """The §4.3 comparison of a set of scenes: `figure` (Figure 10) written, `summary` per class, `classes` counts."""
    classes = illumination_classes(scenes, data_dir)
    hists = [color_histograms(s, classes[s.name]) for s in scenes]
    path = histogram_figure(hists, figure, per_class=per_class)
    return {"figure": str(path), "summary": histogram_summary(hists),
            "classes": {c: sum(1 for v in classes.values() if v == c) for c in ("sunny", "shady")}}


def histogram_folder(data: str | Path, out_dir: str | Path, *, per_class: int = 4) -> dict:
    """`nivalis avalanche histogram`: `sunny_shady` of a scene folder into `out_dir` (histograms.png, and the
    summary as histograms.json)."""
    from nivalis.avalanche.io.layout import load_scenes
    from nivalis.avalanche.io.writers import write_json
    from nivalis.files import prepare_output_dir

    out = prepare_output_dir(out_dir)
    scenes = load_scenes(data, require_masks=False)
    result = sunny_shady(scenes, data, Path(out) / "histograms.png", per_class=per_class)
    write_json(Path(out) / "histograms.json", result["summary"])
    return result


def pca_explained_variance(features: np.ndarray, variance: float = 0.99, seed: int = 0) -> dict:
    """Explained-variance ratios of the principal components of `features` [N, F] (standardised) and the
    number of components whose cumulative ratio reaches `variance`."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    if features.ndim != 2 or features.shape[0] < 2:
        raise UserError("PCA needs at least two feature vectors")
    x = StandardScaler().fit_transform(features.astype(np.float64))
    pca = PCA(n_components=min(x.shape), random_state=seed).fit(x)
    ratio = pca.explained_variance_ratio_
    cumulative = np.cumsum(ratio)
    k = int(np.searchsorted(cumulative, variance - 1e-12) + 1)
    return {"components": int(min(k, len(ratio))), "features": int(features.shape[1]), "samples": int(features.shape[0]),
            "variance": variance, "ratio": ratio.tolist(), "cumulative": cumulative.tolist()}


def window_feature_pca(classifier, scenes: list[Scene], config, *, window: int = 17, per_scene: int = 120,
                       max_scenes: int = 12, seed: int = 0) -> tuple[dict, dict]:
    """§6 on the same random pixels of up to `max_scenes` scenes: `pca_explained_variance` of their raw
    `window`-side windows and of the classifier's hidden features there (its dense pass with `features=True`)."""
    from nivalis.avalanche.dense import predict_probability
    from nivalis.avalanche.windows import extract_windows, pad_image

    rng = np.random.default_rng(seed)
    picks = [(s, rng.integers(0, s.image.shape[0], per_scene), rng.integers(0, s.image.shape[1], per_scene))
             for s in scenes[:max_scenes]]
    raw = np.concatenate([extract_windows(pad_image(s.image, window), r, c, window).reshape(len(r), -1)
                          for s, r, c in picks])
    hidden = []
    for s, r, c in picks:
        _, hid = predict_probability(classifier, s.image, tile=config.tile, features=True)
        hidden.append(hid[r, c])
    return (pca_explained_variance(raw.astype(np.float32), config.pca_variance),
            pca_explained_variance(np.concatenate(hidden), config.pca_variance))
