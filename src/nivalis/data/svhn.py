"""SVHN cropped digits from the official `train_32x32.mat` / `test_32x32.mat` (Netzer et al. 2011; seed 003 §5.2).

Each file is a MATLAB v5 .mat with `X` uint8 [32, 32, 3, N] (height, width, RGB, sample) and
`y` [N, 1] holding 1–10, where 10 is the digit 0 (mapped to label 0 here). 73,257 training and
26,032 test images; `extra_32x32.mat` is not used (the seed trains on the training set).
Validation: a fixed stratified 10 % of the training file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nivalis.data.base import ClassificationData, register_dataset
from nivalis.data.download import Archive, download_dataset, register_archives
from nivalis.data.transforms import to_classification_data
from nivalis.errors import UserError

FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}
ARCHIVES = [
    Archive("http://ufldl.stanford.edu/housenumbers/train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373", extract=False),
    Archive("http://ufldl.stanford.edu/housenumbers/test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3", extract=False),
]
register_archives("svhn", ARCHIVES)


def read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One SVHN .mat → (uint8 images [N, 32, 32, 3], int64 labels [N] in 0..9)."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(path, variable_names=["X", "y"])
    except NotImplementedError:
        raise UserError(f"{path} is a MATLAB v7.3 file; SVHN's official files are v5 (re-save with -v7 or "
                        f"download them again)") from None
    except (scipy.io.matlab.MatReadError, ValueError, TypeError, OSError) as exc:
        raise UserError(f"{path} is not a readable MATLAB .mat file ({str(exc).splitlines()[0][:120]})") from None
    if "X" not in mat or "y" not in mat:
        raise UserError(f"{path} is not an SVHN file: needs variables 'X' [32,32,3,N] and 'y' [N,1]")
    images, labels = np.asarray(mat["X"]), np.asarray(mat["y"]).reshape(-1)
    if images.ndim != 4 or images.shape[2] != 3 or images.shape[3] != labels.shape[0]:
        raise UserError(f"{path}: 'X' must be [H, W, 3, N] with N = len(y) = {labels.shape[0]}, got {list(images.shape)}")
    if labels.size and (labels.min() < 1 or labels.max() > 10):
        raise UserError(f"{path}: 'y' must hold 1..10 (10 = digit 0), found {labels.min()}..{labels.max()}")
    images = images.transpose(3, 0, 1, 2)
    if images.dtype != np.uint8:
        images = np.clip(images, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(images), (labels.astype(np.int64) % 10)


@register_dataset("svhn")
def load_svhn(data_dir: str | Path | None = None, *, download: bool = False,
              val_fraction: float = 0.1) -> ClassificationData:
    """Read SVHN (format 2, cropped digits) from `data_dir`."""
    root = Path(data_dir)
    missing = [name for name in FILES.values() if not (root / name).is_file()]
    if missing and download:
        download_dataset("svhn", root)
        missing = [name for name in FILES.values() if not (root / name).is_file()]
    if missing:
        raise UserError(f"{root} is not an SVHN directory: missing {', '.join(missing)} "
                        f"(expected train_32x32.mat and test_32x32.mat; --download fetches them)")
    x_train, y_train = read_mat(root / FILES["train"])
    x_test, y_test = read_mat(root / FILES["test"])
    return to_classification_data("svhn", x_train, y_train, x_test, y_test, num_classes=10,
                                  class_names=[str(i) for i in range(10)], val_fraction=val_fraction)
