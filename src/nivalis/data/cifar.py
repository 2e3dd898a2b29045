"""CIFAR-10 from the official "python version" batches (Krizhevsky 2009; seed 003 §5.1).

Layout: `DIR/cifar-10-batches-py/` (as the official tar.gz unpacks) or `DIR/` itself, holding
`data_batch_1` … `data_batch_5` and `test_batch`: pickled dicts with `data` uint8 [N, 3072]
(1024 red, 1024 green, 1024 blue values of a 32×32 image, row-major) and `labels` (N ints 0–9);
`batches.meta` (optional) names the classes. 50,000 training and 10,000 test images.

The pickles are read with an unpickler that only rebuilds plain containers and NumPy arrays, so a
crafted file cannot run code. Validation: a fixed stratified 10 % of the training batches (5,000
images); the official test batch is the test split.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from nivalis.data.base import ClassificationData, register_dataset
from nivalis.data.download import Archive, download_dataset, register_archives
from nivalis.data.pickles import BYTES, NUMPY_ARRAYS, safe_load
from nivalis.data.transforms import to_classification_data
from nivalis.errors import UserError

TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
ARCHIVES = [Archive("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")]
register_archives("cifar10", ARCHIVES)

_ALLOWED = NUMPY_ARRAYS | BYTES


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file → (uint8 images [N, 32, 32, 3], int64 labels [N])."""
    try:
        with open(path, "rb") as f:
            raw = safe_load(f, _ALLOWED)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as exc:
        raise UserError(f"{path} is not a CIFAR-10 python batch ({exc})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path} is not a CIFAR-10 python batch (expected a pickled dict)")
    raw = {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}
    if "data" not in raw or "labels" not in raw:
        raise UserError(f"{path} is not a CIFAR-10 python batch (needs 'data' and 'labels', has {sorted(raw)})")
    data = np.asarray(raw["data"])
    labels = np.asarray(raw["labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise UserError(f"{path}: 'data' must be uint8 [N, 3072], got {data.dtype} {list(data.shape)}")
    if labels.shape != (data.shape[0],) or (labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise UserError(f"{path}: 'labels' must be {data.shape[0]} integers in 0..9")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def find_batch_dir(data_dir: Path) -> Path | None:
    for candidate in (data_dir / "cifar-10-batches-py", data_dir):
        if all((candidate / name).is_file() for name in [*TRAIN_BATCHES, TEST_BATCH]):
            return candidate
    return None


@register_dataset("cifar10")
def load_cifar10(data_dir: str | Path | None = None, *, download: bool = False,
                 val_fraction: float = 0.1) -> ClassificationData:
    """Read CIFAR-10 from `data_dir` (see the module docstring for the layout)."""
    root = Path(data_dir)
    batch_dir = find_batch_dir(root)
    if batch_dir is None and download:
        download_dataset("cifar10", root)
        batch_dir = find_batch_dir(root)
    if batch_dir is None:
        base = root / "cifar-10-batches-py" if (root / "cifar-10-batches-py").is_dir() else root
        missing = [n for n in [*TRAIN_BATCHES, TEST_BATCH] if not (base / n).is_file()]
        raise UserError(f"{root} is not a CIFAR-10 python directory: missing {', '.join(missing)} in {base} "
                        f"(expected cifar-10-batches-py/data_batch_1..5 and test_batch; --download fetches them)")
    parts = [read_batch(batch_dir / name) for name in TRAIN_BATCHES]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    x_test, y_test = read_batch(batch_dir / TEST_BATCH)
    return to_classification_data("cifar10", x_train, y_train, x_test, y_test, num_classes=10,
                                  class_names=_class_names(batch_dir), val_fraction=val_fraction)


def _class_names(batch_dir: Path) -> list[str]:
    meta = batch_dir / "batches.meta"
    if meta.is_file():
        try:
            with open(meta, "rb") as f:
                names = safe_load(f, _ALLOWED).get(b"label_names")
            if names and len(names) == 10:
                return [n.decode() if isinstance(n, bytes) else str(n) for n in names]
        except (pickle.UnpicklingError, EOFError, ValueError, AttributeError, TypeError):
            pass
    return list(CLASS_NAMES)
