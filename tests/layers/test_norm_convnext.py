import torch

from nivalis.layers import ConvNeXtBlock, LayerNorm2d


def test_layernorm2d_equals_channels_last_layernorm():
    torch.manual_seed(0)
    norm = LayerNorm2d(6)
    torch.nn.init.normal_(norm.weight)
    x = torch.randn(2, 6, 3, 4)
    ref = torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1), (6,), norm.weight, norm.bias, 1e-6)
    torch.testing.assert_close(norm(x), ref.permute(0, 3, 1, 2))


def test_block_starts_near_identity_and_keeps_shape():
    block = ConvNeXtBlock(8, kernel_size=31).eval()
    x = torch.randn(1, 8, 9, 9)
    y = block(x)
    assert y.shape == x.shape
    assert (y - x).abs().max() < 1e-3  # layer scale γ = 1e-6 keeps the residual branch tiny at init
