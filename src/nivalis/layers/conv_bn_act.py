"""Convolution → batch norm → activation, the unit most families are built from."""

from __future__ import annotations

import torch.nn as nn

_ACTIVATIONS = {
    "relu": lambda: nn.ReLU(inplace=True),
    "relu6": lambda: nn.ReLU6(inplace=True),
    "leaky_relu": lambda: nn.LeakyReLU(0.1, inplace=True),
    "hardswish": lambda: nn.Hardswish(inplace=True),
    "hardsigmoid": lambda: nn.Hardsigmoid(inplace=True),
    "silu": lambda: nn.SiLU(inplace=True),
    "swish": lambda: nn.SiLU(inplace=True),
    "gelu": lambda: nn.GELU(),
    "sigmoid": lambda: nn.Sigmoid(),
    "tanh": lambda: nn.Tanh(),
    "identity": lambda: nn.Identity(),
    None: lambda: nn.Identity(),
}


def make_activation(name: str | None) -> nn.Module:
    """An activation module by name (`relu`, `relu6`, `hardswish`, `silu`, `gelu`, ..., None = identity)."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}") from None


class ConvBnAct(nn.Sequential):
    """`act(bn(conv(x)))` with 'same' padding for odd kernels; `bn=False` gives conv with bias."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int | tuple[int, int] = 3, stride: int | tuple[int, int] = 1,
                 groups: int = 1, act: str | None = "relu", bn: bool = True, padding: int | tuple[int, int] | None = None,
                 dilation: int = 1):
        if padding is None:
            k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
            padding = (dilation * (k[0] - 1) // 2, dilation * (k[1] - 1) // 2)
        layers: list[nn.Module] = [nn.Conv2d(in_chs, out_chs, kernel_size, stride, padding, dilation=dilation,
                                             groups=groups, bias=not bn)]
        if bn:
            layers.append(nn.BatchNorm2d(out_chs))
        layers.append(make_activation(act))
        super().__init__(*layers)
        self.in_chs, self.out_chs = in_chs, out_chs
