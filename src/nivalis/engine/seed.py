"""Seeding for reproducible runs: the same seed gives identical metrics on CPU."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch; call before building a model so its initial weights repeat."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of one epoch's randomness (shuffling, dropout), so a resumed run repeats an uninterrupted one."""
    return (seed * 1_000_003 + epoch * 7_919) % (2**63)
