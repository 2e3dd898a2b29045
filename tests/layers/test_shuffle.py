import pytest
import torch

from nivalis.layers import ShuffleV1Unit, ShuffleV2Unit, channel_shuffle


def test_channel_shuffle_matches_index_formula():
    c, g = 12, 3
    x = torch.arange(c, dtype=torch.float32).view(1, c, 1, 1).expand(2, c, 2, 2)
    y = channel_shuffle(x, g)
    expected = [(i % g) * (c // g) + i // g for i in range(c)]
    assert y[0, :, 0, 0].tolist() == expected
    assert torch.equal(channel_shuffle(y, c // g), x)  # shuffling with C/g groups undoes it


@pytest.mark.parametrize("stride,in_chs,out_chs", [(1, 240, 240), (2, 240, 480), (2, 24, 240)])
def test_v1_unit_shapes(stride, in_chs, out_chs):
    unit = ShuffleV1Unit(in_chs, out_chs, groups=3, stride=stride, group_first=in_chs != 24)
    assert unit(torch.randn(2, in_chs, 8, 8)).shape == (2, out_chs, 8 // stride, 8 // stride)
    assert unit.conv3[0].groups == 3


def test_v2_unit_split_half_passes_through():
    unit = ShuffleV2Unit(8, 8).eval()
    x = torch.randn(1, 8, 5, 5)
    y = unit(x)
    # After concat([x_a, f(x_b)]) and a 2-group shuffle, even output channels are x_a unchanged.
    assert torch.equal(y[:, 0::2], x[:, :4])
    down = ShuffleV2Unit(24, 116, stride=2)
    assert down(torch.randn(2, 24, 8, 8)).shape == (2, 116, 4, 4)


def test_bad_unit_configuration():
    with pytest.raises(ValueError):
        ShuffleV2Unit(8, 16, stride=1)
