"""Zoo networks with their 3×3 slots changed, built from the plain keywords a checkpoint records.

`train --block`, `zoo compare --models vgg11:effnet` and `refine retrain` store `{"block": ...}` or
`{"ops": [...]}` among a run's `model_kwargs`; `create_variant` is the one place that turns them back
into a network, so training, export and the experiments rebuild the same thing:

- `ops`: NAR operator codes → `nivalis.nas.space.build_refined(name, ops, **model_kwargs)`;
- `block`: seed 003's block swap → `nivalis.nas.rewrite.swap_blocks(create_model(name, **model_kwargs), block, name)`;
- neither: `nivalis.models.create_model(name, **model_kwargs)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn

from nivalis.errors import UserError
from nivalis.models import create_model
from nivalis.nas.rewrite import swap_blocks
from nivalis.nas.space import build_refined


def create_variant(name: str, *, ops: Sequence[int] | None = None, block: str | None = None,
                   **model_kwargs) -> nn.Module:
    """`create_model(name, **model_kwargs)` with NAR operators `ops` or efficient `block`s in its 3×3 slots."""
    if ops is not None and block is not None:
        raise UserError("a network takes either NAR operators (ops) or a block swap (block), not both")
    if ops is not None:
        return build_refined(name, list(ops), **model_kwargs)
    model = create_model(name, **model_kwargs)
    return swap_blocks(model, block, name) if block is not None else model


__all__ = ["create_variant"]
