"""Fixed stratified splits: the same indices for every run, whatever the training seed."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

SPLIT_SEED = 20261122


def stratified_split(labels: np.ndarray, val_fraction: float = 0.2, test_fraction: float = 0.2,
                     seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (train, val, test), each class in the same proportion in every part."""
    idx = np.arange(len(labels))
    rest, test = train_test_split(idx, test_size=test_fraction, stratify=labels, random_state=seed)
    val_rel = val_fraction / (1.0 - test_fraction)
    train, val = train_test_split(rest, test_size=val_rel, stratify=labels[rest], random_state=seed)
    return np.sort(train), np.sort(val), np.sort(test)
