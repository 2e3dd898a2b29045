"""Which classification data set a folder holds, told by a file or folder only that set's real layout has."""

from __future__ import annotations

from pathlib import Path

from nivalis.data.base import ClassificationData, list_datasets, load_classification
from nivalis.errors import UserError

#: data set → a name its distributed layout has (CIFAR-10 python batches, SVHN .mat, GTSRB training tree);
#: the first that a folder holds names it
MARKERS: dict[str, str] = {"cifar10": "data_batch_1", "svhn": "train_32x32.mat", "gtsrb": "Final_Training"}


def detect_layout(folder: str | Path) -> str | None:
    """The data set whose marker `folder` holds (searched at any depth), or None."""
    folder = Path(folder)
    return next((name for name, marker in MARKERS.items() if any(folder.rglob(marker))), None)


def load_named_or_folder(name_or_folder: str, data_dir: str | Path | None = None, *,
                         purpose: str = "to read") -> ClassificationData:
    """`load_classification` of a data set given by name (read from `data_dir`) or by a folder holding one."""
    folder = Path(name_or_folder)
    if name_or_folder not in list_datasets() and folder.is_dir():
        found = detect_layout(folder)
        if found is None:
            raise UserError(f"{folder} holds no CIFAR-10, SVHN or GTSRB files {purpose}")
        name_or_folder, data_dir = found, folder
    return load_classification(name_or_folder, str(data_dir) if data_dir else None)
