"""Tiny data sets written in the real CIFAR-10 / SVHN / GTSRB formats, with known pixels and labels."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest


def class_images(labels: np.ndarray, size: int = 32, seed: int = 0) -> np.ndarray:
    """uint8 [N, size, size, 3]: a class-dependent colour and stripe pattern plus noise (learnable)."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    images = rng.integers(0, 60, size=(n, size, size, 3)).astype(np.int32)
    for i, label in enumerate(labels):
        images[i, :, :, label % 3] += 120
        images[i, (label * 3) % size: (label * 3) % size + 4, :, :] += 70
    return np.clip(images, 0, 255).astype(np.uint8)


def write_cifar(root: Path, per_batch: int = 20, n_test: int = 20, nested: bool = True) -> Path:
    """The official python layout: pickled dicts with bytes keys, data uint8 [N, 3072] (R, G, B planes)."""
    folder = root / "cifar-10-batches-py" if nested else root
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for b, name in enumerate(names):
        n = n_test if name == "test_batch" else per_batch
        labels = (np.arange(n) + b) % 10
        images = class_images(labels, seed=b)
        data = images.transpose(0, 3, 1, 2).reshape(n, 3072)
        batch = {b"batch_label": name.encode(), b"labels": labels.tolist(), b"data": data,
                 b"filenames": [f"img_{b}_{i}.png".encode() for i in range(n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"class{i}".encode() for i in range(10)], b"num_vis": 3072}, f, protocol=2)
    return root


def write_svhn(root: Path, n_train: int = 100, n_test: int = 20) -> Path:
    """`train_32x32.mat` / `test_32x32.mat` (MATLAB v5): X [32, 32, 3, N] uint8, y [N, 1] in 1..10."""
    import scipy.io

    root.mkdir(parents=True, exist_ok=True)
    for name, n, seed in (("train_32x32.mat", n_train, 1), ("test_32x32.mat", n_test, 2)):
        digits = np.arange(n) % 10
        images = class_images(digits, seed=seed)
        y = np.where(digits == 0, 10, digits).astype(np.uint8).reshape(-1, 1)
        scipy.io.savemat(root / name, {"X": images.transpose(1, 2, 3, 0), "y": y})
    return root


def sign_image(label: int, width: int, height: int, roi: tuple[int, int, int, int]) -> np.ndarray:
    """RGB image: blue background, the ROI filled with a class colour (so a correct crop has no blue)."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[..., 2] = 200
    x1, y1, x2, y2 = roi
    image[y1:y2 + 1, x1:x2 + 1] = (40 + 80 * (label % 3), 200, 0)
    return image


def write_gtsrb(root: Path, classes: int = 3, tracks: int = 4, frames: int = 3, n_test: int = 9) -> Path:
    """`GTSRB/Final_Training/Images/NNNNN/GT-NNNNN.csv` + `.ppm` and `Final_Test/Images` + `GT-final_test.csv`."""
    import cv2

    base = root / "GTSRB"
    header = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n"
    rng = np.random.default_rng(0)
    for label in range(classes):
        folder = base / "Final_Training" / "Images" / f"{label:05d}"
        folder.mkdir(parents=True)
        lines = [header]
        for track in range(tracks):
            for frame in range(frames):
                w, h = int(rng.integers(30, 60)), int(rng.integers(30, 60))
                roi = (5, 6, w - 6, h - 5)
                name = f"{track:05d}_{frame:05d}.ppm"
                cv2.imwrite(str(folder / name), cv2.cvtColor(sign_image(label, w, h, roi), cv2.COLOR_RGB2BGR))
                lines.append(f"{name};{w};{h};{roi[0]};{roi[1]};{roi[2]};{roi[3]};{label}\n")
        (folder / f"GT-{label:05d}.csv").write_text("".join(lines))
    test = base / "Final_Test" / "Images"
    test.mkdir(parents=True)
    lines = [header]
    for i in range(n_test):
        label = i % classes
        w, h = 40, 44
        roi = (4, 4, 35, 39)
        cv2.imwrite(str(test / f"{i:05d}.ppm"), cv2.cvtColor(sign_image(label, w, h, roi), cv2.COLOR_RGB2BGR))
        lines.append(f"{i:05d}.ppm;{w};{h};{roi[0]};{roi[1]};{roi[2]};{roi[3]};{label}\n")
    (root / "GT-final_test.csv").write_text("".join(lines))  # where GTSRB_Final_Test_GT.zip unpacks
    return root


@pytest.fixture
def cifar_dir(tmp_path: Path) -> Path:
    return write_cifar(tmp_path / "cifar")


@pytest.fixture
def svhn_dir(tmp_path: Path) -> Path:
    return write_svhn(tmp_path / "svhn")


@pytest.fixture
def gtsrb_dir(tmp_path: Path) -> Path:
    return write_gtsrb(tmp_path / "gtsrb")


@pytest.fixture
def make_cifar():
    """The writer itself, for layouts other than the default (e.g. batches directly in the directory)."""
    return write_cifar
