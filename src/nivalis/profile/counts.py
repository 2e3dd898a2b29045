"""Parameter and FLOP counts, measured by running the model under `FlopCounterMode`.

FLOPs follow PyTorch's flop counter: a multiply-add counts as 2 FLOPs; counted for one sample
(batch 1) in eval mode, on the device of the model's parameters (a meta-device model is counted from
shapes alone, see `nivalis.profile.meta`). Operators the counter does not know (pooling, activations, batch norm)
contribute 0, as in the seeds' tables, which count convolutions and fully connected layers.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from nivalis.errors import UserError


def parse_input_shape(text: str) -> tuple[int, ...]:
    """'3x224x224' → (3, 224, 224); a bad string is a user error."""
    try:
        shape = tuple(int(p) for p in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise UserError(f"bad input shape {text!r}: expected CxHxW such as 3x224x224") from None
    if len(shape) != 3 or min(shape) < 1:
        raise UserError(f"bad input shape {text!r}: expected CxHxW such as 3x224x224")
    return shape


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    was_training = model.training
    model.eval()
    first = next(model.parameters(), None)
    x = torch.zeros(1, *input_shape, device=first.device if first is not None else None)
    try:
        with FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def count(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    """{"params": trainable+frozen parameter count, "flops": FLOPs of one forward pass at batch 1}."""
    return {"params": count_params(model), "flops": count_flops(model, tuple(input_shape))}
