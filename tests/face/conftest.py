"""Shared face fixtures: one short stand-in training run and a small insightface-layout .bin."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def arcface_run(tmp_path_factory):
    """ArcFace on the digits stand-in for 3 epochs, with the untrained network's verification for comparison."""
    from nivalis.face.train import standin_config, train_face

    out = tmp_path_factory.mktemp("face_arcface")
    return train_face("digits", standin_config(loss="arcface", epochs=3, pairs_per_fold=150), out,
                      evaluate_untrained=True)


def digit_faces(n: int, size: int = 112, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` digits as uint8 RGB images of `size`² (labels = digit): test images that decode and embed."""
    import cv2
    from sklearn.datasets import load_digits

    raw = load_digits()
    idx = np.random.default_rng(seed).choice(len(raw.target), n, replace=False)
    images = [cv2.resize((raw.images[i] * 255 / 16).astype(np.uint8), (size, size), interpolation=cv2.INTER_LINEAR)
              for i in idx]
    return np.stack([np.repeat(im[:, :, None], 3, axis=2) for im in images]), raw.target[idx]


@pytest.fixture(scope="session")
def small_bin(tmp_path_factory):
    """A .bin of 40 pairs (20 same, 20 different digit classes) in insightface's layout, and its issame list."""
    from nivalis.face.io import write_bin

    images, labels = digit_faces(200, seed=1)
    rng = np.random.default_rng(0)
    pairs, issame = [], []
    for k in range(40):
        same = k % 2 == 0
        a = int(rng.integers(200))
        cands = np.flatnonzero((labels == labels[a]) if same else (labels != labels[a]))
        cands = cands[cands != a]
        pairs += [images[a], images[int(rng.choice(cands))]]
        issame.append(same)
    path = tmp_path_factory.mktemp("face_bin") / "lfw.bin"
    write_bin(path, pairs, issame)
    return path, np.stack(pairs), np.array(issame)
