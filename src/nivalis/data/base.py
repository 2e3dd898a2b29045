"""The shape every image-classification reader returns, and the reader registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from nivalis.errors import UserError


@dataclass
class ClassificationData:
    """Normalised float images [N, C, H, W] and int64 labels, split into train/val/test."""

    name: str
    train: TensorDataset
    val: TensorDataset
    test: TensorDataset
    num_classes: int
    in_chans: int
    image_size: int
    class_names: list[str] = field(default_factory=list)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_chans, self.image_size, self.image_size)

    def summary(self) -> dict:
        return {"name": self.name, "train": len(self.train), "val": len(self.val), "test": len(self.test),
                "num_classes": self.num_classes, "input_shape": list(self.input_shape)}


Reader = Callable[..., ClassificationData]
_READERS: dict[str, tuple[Reader, bool]] = {}


def register_dataset(name: str, needs_dir: bool = True) -> Callable[[Reader], Reader]:
    """Register `reader(data_dir=None, **kw) -> ClassificationData` under `name`."""
    def deco(fn: Reader) -> Reader:
        _READERS[name] = (fn, needs_dir)
        return fn
    return deco


def list_datasets() -> list[str]:
    return sorted(_READERS)


def load_classification(name: str, data_dir: str | Path | None = None, **kwargs) -> ClassificationData:
    if name not in _READERS:
        raise UserError(f"unknown data set {name!r} (one of: {', '.join(list_datasets())})")
    reader, needs_dir = _READERS[name]
    if needs_dir:
        if data_dir is None:
            raise UserError(f"data set {name!r} is read from a local directory: pass --data-dir")
        if not Path(data_dir).is_dir():
            raise UserError(f"data directory not found: {data_dir}")
    return reader(data_dir=data_dir, **kwargs)


def normalise(train: torch.Tensor, *others: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per-channel z-score with the training split's statistics (no information from val/test)."""
    mean = train.mean(dim=(0, 2, 3), keepdim=True)
    std = train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return tuple((t - mean) / std for t in (train, *others))
