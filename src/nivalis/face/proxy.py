"""Seed 004 §4.1.1's proxy task on face data: N identities × 40 images, 36 to train and 4 to validate each.

`face_proxy(path, identities=N)` reads a RecordIO set or a folder per identity, keeps identities with at
least `per_identity` images, draws `identities` of them and `per_identity` images of each (seeded), and
returns `ClassificationData` whose `train` holds `train_per_identity` images per identity and whose `val`
and `test` hold the rest, ready for a classification search such as NAR's.
"""

from __future__ import annotations

import os

import numpy as np
from torch.utils.data import TensorDataset

from nivalis.data.base import ClassificationData
from nivalis.errors import UserError
from nivalis.face.io import open_face_data

__all__ = ["face_proxy"]


def face_proxy(path: str | os.PathLike, identities: int = 4000, *, per_identity: int = 40,
               train_per_identity: int = 36, input_size: int = 112, seed: int = 0) -> ClassificationData:
    """The §4.1.1 proxy (defaults: 4k identities × 40 images, 36 train / 4 validation) as tensors."""
    from nivalis.face.train import to_input

    if not 0 < train_per_identity < per_identity:
        raise UserError(f"train images per identity must be in 1..{per_identity - 1} (got {train_per_identity})")
    source = open_face_data(path)
    ids, counts = np.unique(source.labels, return_counts=True)
    eligible = ids[counts >= per_identity]
    if len(eligible) < identities:
        raise UserError(f"{path}: only {len(eligible)} identities have {per_identity}+ images; the proxy asks for "
                        f"{identities}")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(eligible, identities, replace=False))
    train_idx, val_idx, train_y, val_y = [], [], [], []
    for k, ident in enumerate(chosen):
        picks = rng.permutation(rng.choice(np.flatnonzero(source.labels == ident), per_identity, replace=False))
        train_idx += picks[:train_per_identity].tolist()
        val_idx += picks[train_per_identity:].tolist()
        train_y += [k] * train_per_identity
        val_y += [k] * (per_identity - train_per_identity)

    def tensors(index: list[int], labels: list[int]) -> TensorDataset:
        import torch

        x = to_input([source.image(i) for i in index], input_size, 3)
        return TensorDataset(x, torch.as_tensor(labels, dtype=torch.int64))

    val = tensors(val_idx, val_y)
    return ClassificationData(name=f"face:{path}", train=tensors(train_idx, train_y), val=val, test=val,
                              num_classes=identities, in_chans=3, image_size=input_size,
                              class_names=[str(int(i)) for i in chosen])
