"""Block factory: every block kind by name, the seed-003 options of the shared blocks."""

import pytest
import torch
import torch.nn as nn

from nivalis.layers.block_factory import BLOCK_KINDS, make_block, parse_block
from nivalis.layers.inverted_residual import InvertedResidual
from nivalis.layers.shuffle import ShuffleV1Unit


@pytest.mark.parametrize("kind", BLOCK_KINDS)
@pytest.mark.parametrize("downsample", [True, False])
def test_every_block_maps_widths_and_resolution(kind, downsample):
    block = make_block(kind, 16, 32, downsample=downsample).eval()
    side = 8 if downsample else 16
    assert block(torch.randn(2, 16, 16, 16)).shape == (2, 32, side, side)


def test_parse_block_names_and_expansions():
    assert parse_block("mobilenetv2_e4").expansion == 4.0 and parse_block("effnet_v2").expansion == 6.0
    assert parse_block("effnet").keeps_first_layer is False and parse_block("mob_imp").keeps_first_layer
    for bad in ("effnet_e4", "resnet", "mobilenetv2_x"):
        with pytest.raises(ValueError, match="unknown block"):
            parse_block(bad)


def test_shuffle_unit_without_shortcut_is_the_plain_chain():
    unit = ShuffleV1Unit(64, 128, groups=4, stride=2, shortcut=False).eval()
    kinds = [type(m).__name__ for m in (unit.conv1, unit.shuffle, unit.conv_dw, unit.conv3)]
    assert kinds == ["ConvBnAct", "ChannelShuffle", "ConvBnAct", "ConvBnAct"]
    assert unit.conv3[0].out_channels == 128 and isinstance(unit.pool, nn.Identity)
    x = torch.randn(1, 64, 16, 16)
    expected = unit.act(unit.conv3(unit.conv_dw(unit.shuffle(unit.conv1(x)))))
    torch.testing.assert_close(unit(x), expected)
    assert ShuffleV1Unit(8, 16, groups=2, stride=1, shortcut=False)(torch.randn(1, 8, 4, 4)).shape == (1, 16, 4, 4)
    assert isinstance(ShuffleV1Unit(64, 128, groups=4, stride=2).pool, nn.AvgPool2d)  # default unchanged


def test_inverted_residual_maxpool_and_projection_activation():
    block = InvertedResidual(8, 16, stride=2, exp_ratio=6, downsample="maxpool", proj_act="leaky_relu").eval()
    assert block.conv_dw[0].stride == (1, 1) and isinstance(block.pool, nn.MaxPool2d)
    x = torch.randn(2, 8, 9, 9)
    expected = block.conv_pwl(nn.functional.max_pool2d(block.conv_dw(block.conv_pw(x)), 2, ceil_mode=True))
    torch.testing.assert_close(block(x), expected)
    assert block(x).shape == (2, 16, 5, 5) and isinstance(block.conv_pwl[2], nn.LeakyReLU)
    plain = InvertedResidual(8, 16, stride=2)
    assert plain.conv_dw[0].stride == (2, 2) and isinstance(plain.conv_pwl[2], nn.Identity)
    with pytest.raises(ValueError, match="downsample"):
        InvertedResidual(8, 16, downsample="avg")
