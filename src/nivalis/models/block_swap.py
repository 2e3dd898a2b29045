"""Seed 003's block swap: the vanilla 3×3 convolutions of a built network become efficient blocks.

Seed 003 §5: "the other architectures then simply replace the convolutional layers without changing the
hyper-parameters".

`swap_conv3x3(model, spec)` rewrites a network in place of its 3×3 slots with blocks of
`nivalis.layers.block_factory.make_block`; `swap_blocks(create_model(name, ...), "effnet", name)` is the
protocol of `zoo compare --models vgg11:effnet` and `train --block`, with user mistakes as `UserError`.

What counts as a slot: an `nn.Conv2d` with a 3×3 kernel, padding 1, stride 1 or 2, no groups or
dilation, together with the batch norm / activation modules right after it. A stride-1 slot followed
by a 2×2 pooling layer in the same `nn.Sequential` is replaced *with* the pooling (the block
downsamples itself, as in Table 1); a stride-2 slot by a downsampling block that rounds odd sizes up
like the padded convolution did. Only the EffNet block replaces the first slot of a network (§3
"Addressing the first layer"); MobileNet, ShuffleNet and MobileNetV2 keep it vanilla. Blocks bring
their own batch norm and activations. Slots inside modules that are not `nn.Sequential` (e.g. `conv1`
of a residual block) are replaced one by one; a pooling layer called from such a module's `forward`
stays where it is.
"""

from __future__ import annotations

import torch.nn as nn

from nivalis.errors import UserError
from nivalis.layers.block_factory import BlockSpec, make_block, parse_block

_ELEMENTWISE = (nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.SiLU, nn.GELU, nn.Hardswish, nn.ELU, nn.Tanh,
                nn.Sigmoid, nn.Identity, nn.PReLU)


def _slot(module: nn.Module) -> nn.Conv2d | None:
    """The 3×3 convolution of `module` if it is a slot (a bare conv or a conv → BN → act unit)."""
    conv = module
    if isinstance(module, nn.Sequential) and len(module) and all(isinstance(m, _ELEMENTWISE) for m in list(module)[1:]):
        conv = module[0]
    if (type(conv) is nn.Conv2d and conv.kernel_size == (3, 3) and conv.padding == (1, 1) and conv.groups == 1
            and conv.dilation == (1, 1) and conv.stride in ((1, 1), (2, 2))):
        return conv
    return None


def _is_halving_pool(module: nn.Module) -> bool:
    if not isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        return False
    pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
    return pair(module.kernel_size) == (2, 2) and pair(module.stride) == (2, 2) and pair(module.padding) == (0, 0)


class _Swapper:
    def __init__(self, spec: BlockSpec, keep_first: bool):
        self.spec, self.skip_next, self.replaced, self.seen = spec, keep_first, 0, 0

    def block_for(self, conv: nn.Conv2d, pool: nn.Module | None) -> nn.Module | None:
        self.seen += 1
        if self.skip_next:
            self.skip_next = False
            return None
        self.replaced += 1
        if pool is not None:
            return make_block(self.spec, conv.in_channels, conv.out_channels, downsample=True,
                              ceil_mode=bool(getattr(pool, "ceil_mode", False)))
        return make_block(self.spec, conv.in_channels, conv.out_channels, downsample=conv.stride == (2, 2),
                          ceil_mode=True)

    def sequential(self, seq: nn.Sequential) -> nn.Sequential:
        children = list(seq)
        out: list[nn.Module] = []
        i = 0
        while i < len(children):
            conv = _slot(children[i])
            if conv is None:
                out.append(self.visit(children[i]))
                i += 1
                continue
            j = i + 1
            if isinstance(children[i], nn.Conv2d):  # a flat VGG-style list: take its BN / activation too
                while j < len(children) and isinstance(children[j], _ELEMENTWISE):
                    j += 1
            pool = children[j] if (j < len(children) and conv.stride == (1, 1)
                                   and _is_halving_pool(children[j])) else None
            block = self.block_for(conv, pool)
            if block is None:
                out.extend(children[i:j])
                i = j
            else:
                out.append(block)
                i = j + (pool is not None)
        return nn.Sequential(*out)

    def visit(self, module: nn.Module) -> nn.Module:
        if isinstance(module, nn.Sequential):
            return self.sequential(module)
        for name, child in list(module.named_children()):
            conv = _slot(child)
            if conv is not None:
                block = self.block_for(conv, None)
                if block is not None:
                    setattr(module, name, block)
            else:
                setattr(module, name, self.visit(child))
        return module


def swap_conv3x3(model: nn.Module, spec: str | BlockSpec, *, keep_first: bool | None = None) -> tuple[nn.Module, int]:
    """Replace the 3×3 slots of `model` by `spec` blocks; returns (model, number replaced).

    `keep_first` leaves the first slot vanilla; by default only the EffNet block replaces it.
    The returned model may be a new object when `model` itself is an `nn.Sequential`.
    """
    spec = parse_block(spec)
    swapper = _Swapper(spec, spec.keeps_first_layer if keep_first is None else keep_first)
    model = swapper.visit(model)
    return model, swapper.replaced


def swap_blocks(model: nn.Module, block: str, model_name: str = "model") -> nn.Module:
    """`swap_conv3x3` for a zoo network `model_name`: user mistakes become `UserError`.

    `swap_blocks(create_model("vgg11", num_classes=10), "effnet", "vgg11")`
    """
    try:
        spec = parse_block(block)
    except ValueError as exc:  # parse_block's own message names the known blocks
        raise UserError(str(exc)) from None
    try:
        model, replaced = swap_conv3x3(model, spec)
    except UserError:
        raise
    except ValueError as exc:  # a block that cannot take these widths
        raise UserError(f"cannot put {block!r} blocks into {model_name!r}: {exc}") from None
    if replaced == 0:
        extra = " besides the first layer, which this block keeps" if spec.keeps_first_layer else ""
        raise UserError(f"model {model_name!r} has no vanilla 3×3 convolution{extra} to replace with {block!r} blocks")
    return model


__all__ = ["swap_blocks", "swap_conv3x3"]
