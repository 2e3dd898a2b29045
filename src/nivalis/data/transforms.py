"""Image preparation shared by the CIFAR-10, SVHN and GTSRB readers: layout, ROI crop, resize, splits.

Every reader turns its format into uint8 images [N, H, W, 3] (RGB) and int64 labels, then calls
`to_classification_data`, which makes float tensors [N, 3, H, W], holds out a validation part of the
official training set and z-scores every split with the training part's per-channel statistics
(seed 003 §5: no augmentation, no pre-processing beyond that).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import TensorDataset

from nivalis.data.base import ClassificationData, normalise
from nivalis.data.splits import SPLIT_SEED


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, C] → float32 [N, C, H, W] in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).float().div_(255.0)


def crop_resize(image: np.ndarray, roi: tuple[int, int, int, int], size: int) -> np.ndarray:
    """Crop `image` [H, W, C] to the inclusive box (x1, y1, x2, y2) and resize it to size × size.

    Area interpolation when shrinking (no aliasing), bilinear when enlarging; the box is clipped
    to the image so a slightly out-of-range annotation still gives a valid crop.
    """
    import cv2

    h, w = image.shape[:2]
    x1, y1, x2, y2 = roi
    x1, y1 = min(max(x1, 0), w - 1), min(max(y1, 0), h - 1)
    x2, y2 = min(max(x2, x1), w - 1), min(max(y2, y1), h - 1)
    crop = image[y1:y2 + 1, x1:x2 + 1]
    shrink = crop.shape[0] > size or crop.shape[1] > size
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def holdout_split(labels: np.ndarray, fraction: float, *, groups: np.ndarray | None = None,
                  seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): `fraction` of the samples held out, stratified by label.

    With `groups` (e.g. GTSRB's physical-sign tracks) whole groups are held out, so near-identical
    frames of one sign never sit on both sides; groups are drawn per class in the same proportion.
    The split is fixed (same indices for every training seed).
    """
    idx = np.arange(len(labels))
    if fraction <= 0:
        return idx, idx[:0]
    if groups is None:
        counts = np.bincount(labels)
        stratify = labels if counts[counts > 0].min() >= 2 and len(labels) * fraction >= len(counts[counts > 0]) else None
        train, val = train_test_split(idx, test_size=fraction, stratify=stratify, random_state=seed)
        return np.sort(train), np.sort(val)
    rng = np.random.default_rng(seed)
    val_groups = []
    for label in np.unique(labels):
        label_groups = np.unique(groups[labels == label])
        n_val = int(round(len(label_groups) * fraction))
        if len(label_groups) > 1:
            n_val = min(max(n_val, 1), len(label_groups) - 1)
            val_groups.extend(rng.choice(label_groups, size=n_val, replace=False).tolist())
    is_val = np.isin(groups, np.array(val_groups, dtype=groups.dtype))
    return idx[~is_val], idx[is_val]


def to_classification_data(name: str, train_images: np.ndarray, train_labels: np.ndarray, test_images: np.ndarray,
                           test_labels: np.ndarray, *, num_classes: int, class_names: list[str],
                           val_fraction: float, groups: np.ndarray | None = None) -> ClassificationData:
    """Build the normalised train/val/test `ClassificationData` from uint8 NHWC arrays."""
    tr, va = holdout_split(train_labels, val_fraction, groups=groups)
    x_all = images_to_tensor(train_images)
    x_te = images_to_tensor(test_images)
    y_all = torch.from_numpy(train_labels.astype(np.int64))
    y_te = torch.from_numpy(test_labels.astype(np.int64))
    x_tr, x_va, x_te = normalise(x_all[tr], x_all[va], x_te)
    return ClassificationData(
        name=name, train=TensorDataset(x_tr, y_all[tr]), val=TensorDataset(x_va, y_all[va]),
        test=TensorDataset(x_te, y_te), num_classes=num_classes, in_chans=int(train_images.shape[-1]),
        image_size=int(train_images.shape[1]), class_names=class_names,
    )
