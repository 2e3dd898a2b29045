"""Zoo networks rebuilt from the plain keywords a checkpoint records: block swaps, NAR operators, trained weights.

`train --block`, `zoo compare --models vgg11:effnet` and `refine retrain` store `{"block": ...}` or
`{"ops": [...]}` among a run's `model_kwargs`; `create_variant` is the one place that turns them back
into a network, so training, export and the experiments rebuild the same thing:

- `block`: seed 003's block swap → `nivalis.models.block_swap.swap_blocks(create_model(name, **model_kwargs),
  block, name)`;
- `ops`: NAR operator codes → `nivalis.nas.space.build_refined(name, ops, **model_kwargs)`;
- neither: `nivalis.models.create_model(name, **model_kwargs)`.

`model_from_checkpoint` rebuilds the network a `nivalis train` checkpoint holds from its metadata and loads
its weights.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence

import torch.nn as nn

from nivalis.errors import UserError
from nivalis.models.block_swap import swap_blocks
from nivalis.models.weights import create_model

#: keywords whose networks a domain package builds: keyword → "module:function(name, value, **model_kwargs)".
#: NAR's operator codes need the search space of `nivalis.nas`; it is imported only for a network that has
#: them, so the zoo (and a plain `train` or `zoo export`) never loads it.
VARIANT_BUILDERS: dict[str, str] = {"ops": "nivalis.nas.space:build_refined"}


def _builder(keyword: str):
    module, function = VARIANT_BUILDERS[keyword].split(":")
    return getattr(importlib.import_module(module), function)


def create_variant(name: str, *, ops: Sequence[int] | None = None, block: str | None = None,
                   **model_kwargs) -> nn.Module:
    """`create_model(name, **model_kwargs)` with NAR operators `ops` or efficient `block`s in its 3×3 slots."""
    if ops is not None and block is not None:
        raise UserError("a network takes either NAR operators (ops) or a block swap (block), not both")
    if ops is not None:
        return _builder("ops")(name, list(ops), **model_kwargs)
    model = create_model(name, **model_kwargs)
    return swap_blocks(model, block, name) if block is not None else model


def checkpoint_model_name(checkpoint: Mapping, name: str | None, where: str) -> str:
    """The registered model of a `nivalis train` checkpoint (`where` names it in messages); `name` must agree."""
    meta = checkpoint.get("meta", {})
    if name is None:
        if not meta.get("model"):
            raise UserError("give a model NAME, or --checkpoint of a `nivalis train` run (its meta names the model)")
        return meta["model"]
    if meta.get("model") and meta["model"] != name:
        raise UserError(f"checkpoint {where} holds {meta['model']!r}, not {name!r}")
    return name


def model_from_checkpoint(checkpoint: Mapping, name: str, **kwargs) -> nn.Module:
    """The network of a `nivalis train` checkpoint (its meta's classes, channels and `model_kwargs`), its weights loaded.

    `kwargs` (num_classes, in_chans, ...) apply where the meta records nothing.
    """
    meta = checkpoint.get("meta", {})
    kwargs.update({k: meta[k] for k in ("num_classes", "in_chans") if k in meta}, **meta.get("model_kwargs", {}))
    model = create_variant(name, **kwargs)  # a checkpoint's model_kwargs may swap blocks or set NAR operators
    model.load_state_dict(checkpoint["model"])
    return model


__all__ = ["VARIANT_BUILDERS", "checkpoint_model_name", "create_variant", "model_from_checkpoint"]
