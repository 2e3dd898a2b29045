"""Rewriting built networks: 3×3 slots of VGG-like lists and residual modules become efficient blocks (seed 003 §5)."""

import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from nivalis.errors import UserError
from nivalis.layers.effnet_block import EffNetBlock
from nivalis.layers.shuffle import ChannelShuffle
from nivalis.models import create_model
from nivalis.models.block_swap import swap_blocks, swap_conv3x3
from nivalis.models.variants import create_variant
from nivalis.profile import count

CIFAR = (3, 32, 32)


def _vgg_like():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 1), nn.Flatten(), nn.Linear(64 * 8 * 8, 10),
    )


def test_swap_on_a_flat_vgg_list_absorbs_bn_act_and_pooling():
    model, replaced = swap_conv3x3(_vgg_like(), "effnet")
    assert replaced == 3
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["EffNetBlock", "EffNetBlock", "EffNetBlock", "Conv2d", "Flatten", "Linear"]
    assert [m.out_chs for m in model[:3]] == [16, 32, 32]
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_swap_keeps_the_first_layer_for_mobile_blocks():
    model, replaced = swap_conv3x3(_vgg_like(), "shufflenet")
    assert replaced == 2
    assert isinstance(model[0], nn.Conv2d) and isinstance(model[3], nn.MaxPool2d)
    assert any(isinstance(m, ChannelShuffle) for m in model.modules())
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.shortcut = nn.Conv2d(8, 8, 1, stride=2)

    def forward(self, x):
        return self.conv2(self.conv1(x)) + self.shortcut(x)


def test_swap_inside_a_module_rounds_odd_sizes_like_the_strided_conv():
    model, replaced = swap_conv3x3(_Residual(), "effnet", keep_first=False)
    assert replaced == 2 and isinstance(model.conv1, EffNetBlock)
    assert model(torch.randn(1, 8, 7, 7)).shape == (1, 8, 4, 4)  # matches the 1×1 stride-2 shortcut


@pytest.mark.parametrize("block, twin", [("effnet", "effnet_cifar"), ("mobilenet", "mobilenet_cifar"),
                                         ("shufflenet", "shufflenet_cifar"), ("mob_imp_e6", "mob_imp_cifar_e6"),
                                         ("effnet_v2_e4", "effnet_v2_cifar_e4")])
def test_swapping_the_baseline_builds_the_seed_network(block, twin):
    swapped = swap_blocks(create_model("effnet_cifar_baseline"), block, "effnet_cifar_baseline")
    assert count(swapped, CIFAR) == count(create_model(twin), CIFAR)


def test_block_swap_on_another_family():
    base = count(create_model("resnet18", num_classes=10), CIFAR)
    model = swap_blocks(create_model("resnet18", num_classes=10), "effnet", "resnet18")
    swapped = count(model, CIFAR)
    assert swapped["flops"] < 0.3 * base["flops"]
    assert sum(type(m).__name__ == "EffNetBlock" for m in model.modules()) == 16  # all 3×3 slots (the 7×7 stem is none)
    assert model.eval()(torch.randn(1, 3, 40, 40)).shape == (1, 10)


def test_block_swap_on_vgg_absorbs_every_pooling():
    from nivalis.profile.meta import build_meta, meta_counts

    with torch.device("meta"):
        model = swap_blocks(build_meta("vgg11"), "effnet", "vgg11")
    # 8 convolutions and 5 max-poolings became 8 blocks: each pooling went into the block before it
    assert [type(m).__name__ for m in model.features] == ["EffNetBlock"] * 8
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, 224, 224, device="meta"))
    assert counter.get_total_flops() < 0.15 * meta_counts("vgg11", (3, 224, 224))["flops"]


def test_block_swap_user_errors():
    with pytest.raises(UserError, match="unknown block"):
        swap_blocks(create_model("effnet_cifar_baseline"), "xception", "effnet_cifar_baseline")
    with pytest.raises(UserError, match="no vanilla 3×3"):
        swap_blocks(create_model("lenet5"), "effnet", "lenet5")


def test_create_variant_rebuilds_what_a_checkpoint_records():
    torch.manual_seed(0)
    swapped = create_variant("resnet18", block="effnet", num_classes=10)
    assert sum(isinstance(m, EffNetBlock) for m in swapped.modules()) == 16
    refined = create_variant("resnet18", ops=[1] + [0] * 7, num_classes=10, width_mult=0.25)
    assert refined.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    with pytest.raises(UserError, match="not both"):
        create_variant("resnet18", ops=[0] * 8, block="effnet")
