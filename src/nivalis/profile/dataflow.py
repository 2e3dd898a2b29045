"""Data flow through a network: how many floats each layer outputs (seed 003, Table 1 "floats out").

Recorded with forward hooks on leaf modules for one sample. Element-wise modules (batch norm,
activations, dropout, identity) are folded into the layer before them, because they do not
change what flows to the next layer; convolutions, pooling, linear and reshaping layers are listed.
"""

from __future__ import annotations

import torch
import torch.nn as nn

_ELEMENTWISE = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm, nn.Identity, nn.Dropout,
    nn.Dropout2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.GELU, nn.Sigmoid,
    nn.Tanh, nn.PReLU, nn.ELU, nn.LocalResponseNorm,
)


@torch.no_grad()
def dataflow(model: nn.Module, input_shape: tuple[int, ...]) -> list[dict]:
    """[{"layer": qualified module name, "shape": [C, H, W] of its output, "floats": numel}, ...] in call order."""
    rows: list[dict] = []
    hooks = []

    def hook(name):
        def record(module, inputs, output):
            if isinstance(output, torch.Tensor):
                shape = list(output.shape[1:])
                rows.append({"layer": name, "type": type(module).__name__, "shape": shape,
                             "floats": int(output[0].numel())})
        return record

    for name, module in model.named_modules():
        if next(module.children(), None) is None and not isinstance(module, _ELEMENTWISE):
            hooks.append(module.register_forward_hook(hook(name)))
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(1, *input_shape))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return rows


def table1_dataflow(model: nn.Module, input_shape: tuple[int, ...] = (3, 32, 32)) -> list[dict]:
    """`dataflow` rows grouped as in seed 003 Table 1 ("floats out" per layer).

    Table 1 lists a convolution and the pooling right after it as one layer ("3x3x64 + mp",
    "dw 1x3 + 1d mp"), and leaves out reshaping and channel shuffles, which move no new data.
    """
    rows: list[dict] = []
    for row in dataflow(model, input_shape):
        if row["type"] in ("Flatten", "ChannelShuffle", "_PadToEvenHeight"):
            continue
        if row["type"].startswith(("MaxPool", "AvgPool")) and rows:
            rows[-1] = {**rows[-1], "layer": f"{rows[-1]['layer']} + {row['layer']}", "shape": row["shape"],
                        "floats": row["floats"]}
            continue
        rows.append(dict(row))
    return rows
