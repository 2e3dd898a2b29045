"""Swap the vanilla 3×3 convolutions of any network for efficient blocks (seed 003 §5: "the other
architectures then simply replace the convolutional layers without changing the hyper-parameters").

`make_block(spec, in_chs, out_chs, downsample=...)` builds one block by name; `swap_conv3x3(model, spec)`
rewrites a built network in place of its 3×3 slots. Block names (`spec`):

========================  ===================================================================
`conv`                    3×3 conv → BN → ReLU (+ 2×2 max-pool when downsampling): the baseline
`effnet`                  `EffNetBlock` (seed 003 §4.2)
`effnet_v2[_eT]`          `EffNetV2Block`, expansion T (default 6; §6.2)
`mobilenet`               `DepthwiseSeparableConv`, dw 3×3 stride 2 + 1×1 (Howard et al. 2017)
`shufflenet`              `ShuffleV1Unit` without shortcut, 4 groups (Zhang et al. 2018, as in seed Table 1)
`mobilenetv2[_eT]`        `InvertedResidual`, expansion T, stride-2 depthwise, linear projection
`mob_imp[_eT]`            MobileNetV2 with 2×2 max-pooling instead of the stride and a leaky ReLU
                          instead of the linear bottleneck (seed §6.3)
========================  ===================================================================

What counts as a slot: an `nn.Conv2d` with a 3×3 kernel, padding 1, stride 1 or 2, no groups or
dilation, together with the batch norm / activation modules right after it. A stride-1 slot followed
by a 2×2 pooling layer in the same `nn.Sequential` is replaced *with* the pooling (the block
downsamples itself, as in Table 1); a stride-2 slot by a downsampling block that rounds odd sizes up
like the padded convolution did. Only the EffNet block replaces the first slot of a network (§3
"Addressing the first layer"); MobileNet, ShuffleNet and MobileNetV2 keep it vanilla, as their papers
and the seed's Tables 1 and 5-7 do. Blocks bring their own batch norm and activations. Slots inside
modules that are not `nn.Sequential` (e.g. `conv1` of a residual block) are replaced one by one;
a pooling layer called from such a module's `forward` stays where it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch.nn as nn

from nivalis.layers.conv_bn_act import ConvBnAct
from nivalis.layers.effnet_block import EffNetBlock, EffNetV2Block

BLOCK_KINDS = ("conv", "effnet", "effnet_v2", "mobilenet", "shufflenet", "mobilenetv2", "mob_imp")
_EXPANDING = ("effnet_v2", "mobilenetv2", "mob_imp")
_ELEMENTWISE = (nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.SiLU, nn.GELU, nn.Hardswish, nn.ELU, nn.Tanh,
                nn.Sigmoid, nn.Identity, nn.PReLU)


@dataclass(frozen=True)
class BlockSpec:
    kind: str
    expansion: float = 6.0

    @property
    def keeps_first_layer(self) -> bool:
        return self.kind not in ("effnet", "conv")


def parse_block(spec: str | BlockSpec) -> BlockSpec:
    """'mobilenetv2_e4' → BlockSpec('mobilenetv2', 4.0); ValueError names the known blocks."""
    if isinstance(spec, BlockSpec):
        return spec
    match = re.fullmatch(r"([a-z0-9_]+?)(?:_e(\d+(?:\.\d+)?))?", spec.strip().lower())
    if match and match.group(1) in BLOCK_KINDS and (match.group(2) is None or match.group(1) in _EXPANDING):
        return BlockSpec(match.group(1), float(match.group(2)) if match.group(2) else 6.0)
    raise ValueError(f"unknown block {spec!r} (one of: {', '.join(BLOCK_KINDS)}; "
                     f"{', '.join(_EXPANDING)} take an expansion suffix such as _e4)")


def _shuffle_groups(in_chs: int, out_chs: int, wanted: int = 4) -> int:
    """The largest g ≤ `wanted` that divides both widths and leaves a bottleneck (out/4) of at least g."""
    for g in range(wanted, 0, -1):
        if in_chs % g == 0 and out_chs % g == 0 and out_chs // 4 >= g:
            return g
    return 1


def make_block(spec: str | BlockSpec, in_chs: int, out_chs: int, *, downsample: bool = True,
               ceil_mode: bool = False) -> nn.Module:
    """One block that maps (N, in_chs, H, W) to (N, out_chs, H/2, W/2) (`downsample`) or (N, out_chs, H, W)."""
    from nivalis.layers.depthwise_separable import DepthwiseSeparableConv
    from nivalis.layers.inverted_residual import InvertedResidual
    from nivalis.layers.shuffle import ShuffleV1Unit

    spec = parse_block(spec)
    stride = 2 if downsample else 1
    if spec.kind == "conv":
        conv = ConvBnAct(in_chs, out_chs, 3)
        return nn.Sequential(conv, nn.MaxPool2d(2, 2, ceil_mode=ceil_mode)) if downsample else conv
    if spec.kind == "effnet":
        return EffNetBlock(in_chs, out_chs, downsample=downsample, ceil_mode=ceil_mode)
    if spec.kind == "effnet_v2":
        return EffNetV2Block(in_chs, out_chs, expansion=spec.expansion, downsample=downsample, ceil_mode=ceil_mode)
    if spec.kind == "mobilenet":
        return DepthwiseSeparableConv(in_chs, out_chs, 3, stride=stride)
    if spec.kind == "shufflenet":
        return ShuffleV1Unit(in_chs, out_chs, groups=_shuffle_groups(in_chs, out_chs), stride=stride, shortcut=False)
    if spec.kind == "mobilenetv2":
        return InvertedResidual(in_chs, out_chs, 3, stride=stride, exp_ratio=spec.expansion)
    if spec.kind == "mob_imp":
        return InvertedResidual(in_chs, out_chs, 3, stride=stride, exp_ratio=spec.expansion,
                                downsample="maxpool", proj_act="leaky_relu")
    raise AssertionError(spec)


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
    """`swap_conv3x3` for `create_model(name, block=...)`: user mistakes become `UserError`."""
    from nivalis.errors import UserError

    try:
        spec = parse_block(block)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    try:
        model, replaced = swap_conv3x3(model, spec)
    except ValueError as exc:  # a block that cannot take these widths
        raise UserError(f"cannot put {block!r} blocks into {model_name!r}: {exc}") from None
    if replaced == 0:
        extra = " besides the first layer, which this block keeps" if spec.keeps_first_layer else ""
        raise UserError(f"model {model_name!r} has no vanilla 3×3 convolution{extra} to replace with {block!r} blocks")
    return model
