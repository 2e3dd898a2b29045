"""Image-classification data sets as `ClassificationData` (train/val/test tensors), read from real formats.

`load_classification(name, data_dir=None)` dispatches to a reader registered with `register_dataset`.
`digits` (scikit-learn's real handwritten digits) is the embedded default and needs no directory;
`detect_layout(folder)` tells which set a folder holds.
"""

from nivalis.data import (  # noqa: F401  (registers)
           cifar,
           digits,
           gtsrb,
           svhn,
)
from nivalis.data.base import ClassificationData, list_datasets, load_classification, register_dataset
from nivalis.data.download import download_dataset, load_with_download
from nivalis.data.layout import detect_layout, load_named_or_folder

__all__ = ["ClassificationData", "detect_layout", "download_dataset", "list_datasets", "load_classification",
           "load_named_or_folder", "load_with_download", "register_dataset"]
