import torch

from nivalis.layers import BasicBlock, Bottleneck


def test_identity_at_zero_branch():
    # With the branch's last BN scaled to zero, a block is ReLU(x): the skip carries the input through.
    block = Bottleneck(64, 16).eval()
    torch.nn.init.zeros_(block.conv3[1].weight)
    torch.nn.init.zeros_(block.conv3[1].bias)
    x = torch.randn(2, 64, 8, 8)
    assert torch.equal(block(x), torch.relu(x))


def test_projection_shortcut_on_shape_change():
    block = BasicBlock(32, 64, stride=2)
    assert isinstance(block.shortcut, torch.nn.Sequential)
    assert block(torch.randn(1, 32, 16, 16)).shape == (1, 64, 8, 8)
    assert isinstance(BasicBlock(64, 64).shortcut, torch.nn.Identity)


def test_grouped_width():
    # ResNeXt 32×4d stage 2: int(128 · 4/64) · 32 = 256 channels in 32 groups of 8.
    block = Bottleneck(256, 128, groups=32, base_width=4)
    assert block.conv2[0].groups == 32 and block.conv2[0].out_channels == 256
    wide = Bottleneck(256, 64, base_width=128)
    assert wide.conv2[0].out_channels == 128 and wide.conv3[0].out_channels == 256


def test_grouped_se_block_trains():
    torch.manual_seed(0)
    block = Bottleneck(32, 16, stride=2, groups=4, base_width=16, se_ratio=1 / 16, drop_path=0.1)
    y = block(torch.randn(4, 32, 8, 8))
    assert y.shape == (4, 64, 4, 4)
    y.sum().backward()
    assert all(p.grad is not None for p in block.parameters())
