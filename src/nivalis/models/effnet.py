"""EffNet (Freeman et al. 2018, seed 003): the slim CIFAR-10 / SVHN / GTSRB networks and their efficient variants.

Every network is a `SlimNet`: a stack of stages that each halve the resolution, flattened into one
fully connected output layer. The baseline stage is a 3×3 convolution + 2×2 max-pooling; the other
networks "simply replace the convolutional layers without changing the hyper-parameters" (§5) by a
block from `nivalis.layers.block_factory` (EffNet v1/v2, MobileNet, ShuffleNet, MobileNetV2, mob_imp).
The EffNet v1 block also replaces the first layer (§3); the others keep it vanilla (Table 1, §6.2).

Widths (the seed gives CIFAR's; SVHN's and GTSRB's are "two to three hidden layers, small number of
channels", §5, so they are chosen here):

- CIFAR-10 (Table 1): 64, 128, 256. At 3×32×32 and 10 classes the FLOPs (multiply-add = 2) are
  79.1 M for the baseline (seed 80.3 M), 11.3 M EffNet (11.4 M), 5.8 M MobileNet (5.8 M),
  4.5 M ShuffleNet (4.7 M), 16.4/29.2/42.0 M MobileNetV2 e2/e4/e6 (16.4/29.2/42.0 M),
  12.5/21.3/30.1 M EffNet v2 (12.4/21.2/30.0 M) and 44.0 M mob_imp (44.0 M).
- SVHN: 12, 24, 48. This is the width set that reproduces the seed's MobileNet (773.4 k) and EffNet
  (517.6 k) FLOPs of Table 3 exactly and MobileNetV2 e2 of Table 6 (1,162.8 k); the baseline
  counts 3,333 k where the seed lists 3,563.5 k.
- GTSRB: 8, 16, 32, 43 classes, dropout 0.5 before the output (§5.3). These widths reproduce
  Table 4's MobileNet (533.0 k) and EffNet (344.1 k) exactly; the baseline counts 1,666 k against
  the seed's 2,326.5 k (the seed's baseline counts evidently include something else).
- `*_large`: the seed does not give its "EffNet large" configuration, only that its FLOPs roughly
  equal the baseline's; here it is the EffNet network with every width scaled so (CIFAR 176/352/704,
  SVHN 34/68/136, GTSRB 22/44/88).

`nivalis.models.block_swap.swap_blocks(create_model(name), "effnet", name)` swaps the 3×3 convolutions of any zoo
network the same way. Table 1's "floats out" column is `nivalis.profile.dataflow.table1_dataflow`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn as nn

from nivalis.layers.block_factory import make_block, parse_block
from nivalis.layers.classifier import ClassifierHead, ClassifierMixin
from nivalis.models.configs import SMALL_CFG, DefaultCfg
from nivalis.models.registry import register_model


class SlimNet(ClassifierMixin, nn.Module):
    """Stages of `block` (each halving H and W) → flatten → [dropout] → fully connected.

    Args:
        widths: output channels of each stage.
        block: block name (`conv` = 3×3 conv + BN + ReLU + 2×2 max-pool, `effnet`, `mobilenet`, ...).
        num_classes, in_chans: classifier outputs and input channels.
        input_size: square input side (the flattened width of the output layer depends on it).
        drop_rate: dropout probability before the output layer (0.5 for GTSRB, §5.3).
        keep_first: first stage vanilla; by default every block except EffNet v1 keeps it.
    """

    classifier_name = "classifier"

    def __init__(self, widths: Sequence[int] = (64, 128, 256), block: str = "conv", num_classes: int = 10,
                 in_chans: int = 3, input_size: int = 32, drop_rate: float = 0.0, keep_first: bool | None = None):
        super().__init__()
        spec = parse_block(block)
        keep_first = spec.keeps_first_layer if keep_first is None else keep_first
        stages, chs = [], in_chans
        for i, width in enumerate(widths):
            stages.append(make_block("conv" if (i == 0 and keep_first) else spec, chs, width, downsample=True))
            chs = width
        self.features = nn.Sequential(*stages)
        side = input_size // 2 ** len(widths)
        if side < 1:
            raise ValueError(f"input_size {input_size} is too small for {len(widths)} halving stages")
        # No global pooling: the output layer reads the whole flattened map, as in the seed.
        self.classifier = ClassifierHead(chs * side * side, num_classes, pool="", drop_rate=drop_rate)
        self.num_classes, self.num_features = num_classes, chs * side * side
        self._register_load_state_dict_pre_hook(_rename_old_classifier)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _rename_old_classifier(state_dict, prefix, *args) -> None:
    # Checkpoints written before the shared ClassifierHead name the output layer `classifier.2.*`.
    for name in ("weight", "bias"):
        old = f"{prefix}classifier.2.{name}"
        if old in state_dict:
            state_dict[f"{prefix}classifier.{name}"] = state_dict.pop(old)


@dataclass(frozen=True)
class _DataSetting:
    widths: tuple[int, ...]
    large_widths: tuple[int, ...]
    num_classes: int
    drop_rate: float = 0.0


#: per data set of the seed: baseline widths, EffNet-large widths, classes, dropout before the output
SETTINGS = {
    "cifar": _DataSetting((64, 128, 256), (176, 352, 704), 10),
    "svhn": _DataSetting((12, 24, 48), (34, 68, 136), 10),
    "gtsrb": _DataSetting((8, 16, 32), (22, 44, 88), 43, drop_rate=0.5),
}

#: registry-name pattern → (block, large); `{d}` is the data set
VARIANTS = {
    "effnet_{d}_baseline": ("conv", False),
    "effnet_{d}": ("effnet", False),
    "effnet_{d}_large": ("effnet", True),
    "mobilenet_{d}": ("mobilenet", False),
    "shufflenet_{d}": ("shufflenet", False),
    "mobilenetv2_{d}_e2": ("mobilenetv2_e2", False),
    "mobilenetv2_{d}_e4": ("mobilenetv2_e4", False),
    "mobilenetv2_{d}_e6": ("mobilenetv2_e6", False),
    "effnet_v2_{d}_e2": ("effnet_v2_e2", False),
    "effnet_v2_{d}_e4": ("effnet_v2_e4", False),
    "effnet_v2_{d}_e6": ("effnet_v2_e6", False),
    "mob_imp_{d}_e6": ("mob_imp_e6", False),
}


def _create_slimnet(data: str, block: str, large: bool, **kwargs) -> SlimNet:
    setting = SETTINGS[data]
    kwargs.setdefault("num_classes", setting.num_classes)
    kwargs.setdefault("drop_rate", setting.drop_rate)
    return SlimNet(setting.large_widths if large else setting.widths, block=block, **kwargs)


#: one row per registered network: CIFAR-scale input, the data set's classes
default_cfgs: dict[str, DefaultCfg] = {}


def _register_variant(name: str, data: str, block: str, large: bool) -> None:
    def builder(num_classes: int | None = None, in_chans: int = 3, **kwargs) -> SlimNet:
        if num_classes is not None:
            kwargs["num_classes"] = num_classes
        return _create_slimnet(data, block, large, in_chans=in_chans, **kwargs)

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = f"Seed 003 {data} network, block {block!r}{' (large widths)' if large else ''}."
    globals()[name] = register_model(builder)
    default_cfgs[name] = replace(SMALL_CFG, num_classes=SETTINGS[data].num_classes)


for _data in SETTINGS:
    for _pattern, (_block, _large) in VARIANTS.items():
        _register_variant(_pattern.format(d=_data), _data, _block, _large)
del _data, _pattern, _block, _large
