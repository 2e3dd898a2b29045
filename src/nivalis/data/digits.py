"""scikit-learn's `digits`: 1,797 real 8×8 handwritten digits (UCI), upsampled to 32×32 for the zoo.

Upsampling is bilinear (align_corners=False); pixel values 0..16 are z-scored with the training
split's mean and standard deviation. Split: fixed stratified 60/20/20 train/val/test.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits as _sk_load_digits
from torch.utils.data import TensorDataset

from nivalis.data.base import ClassificationData, normalise, register_dataset
from nivalis.data.splits import stratified_split


@register_dataset("digits", needs_dir=False)
def load_digits(data_dir=None, image_size: int = 32, in_chans: int = 1) -> ClassificationData:
    raw = _sk_load_digits()
    images = torch.tensor(raw.images, dtype=torch.float32).unsqueeze(1) / 16.0
    if image_size != 8:
        images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)
    if in_chans > 1:
        images = images.repeat(1, in_chans, 1, 1)
    labels = torch.tensor(raw.target, dtype=torch.int64)
    tr, va, te = stratified_split(raw.target)
    x_tr, x_va, x_te = normalise(images[tr], images[va], images[te])
    return ClassificationData(
        name="digits", train=TensorDataset(x_tr, labels[tr]), val=TensorDataset(x_va, labels[va]),
        test=TensorDataset(x_te, labels[te]), num_classes=10, in_chans=in_chans, image_size=image_size,
        class_names=[str(i) for i in range(10)],
    )
