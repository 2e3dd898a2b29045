import torch

from nivalis.layers import DenseLayer, Transition, dense_block


def test_each_layer_sees_all_previous_maps():
    block = dense_block(16, num_layers=3, growth_rate=4)
    assert [layer.conv1.in_channels for layer in block] == [16, 20, 24]  # k0 + k(l-1)
    x = torch.randn(2, 16, 5, 5)
    y = block(x)
    assert y.shape == (2, 28, 5, 5)
    assert torch.equal(y[:, :16], x)  # concatenation keeps the block input untouched


def test_bottleneck_and_transition():
    layer = DenseLayer(64, growth_rate=32, bn_size=4)
    assert layer.conv1.out_channels == 128
    assert Transition(256, 128)(torch.randn(1, 256, 8, 8)).shape == (1, 128, 4, 4)
