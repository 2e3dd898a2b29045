"""Image-classification data sets as `ClassificationData` (train/val/test tensors), read from real formats.

`load_classification(name, data_dir=None)` dispatches to a reader registered with `register_dataset`.
`digits` (scikit-learn's real handwritten digits) is the embedded default and needs no directory.
"""

from nivalis.data.base import ClassificationData, load_classification, register_dataset, list_datasets
from nivalis.data import digits  # noqa: F401,E402  (registers)

__all__ = ["ClassificationData", "list_datasets", "load_classification", "register_dataset"]
