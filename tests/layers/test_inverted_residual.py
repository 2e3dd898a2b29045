import torch

from nivalis.layers import InvertedResidual


def test_expansion_widths_and_skip():
    block = InvertedResidual(24, 24, kernel_size=5, exp_ratio=6)
    assert block.exp_chs == 144 and block.has_residual
    assert block.conv_dw[0].groups == 144 and block.conv_dw[0].kernel_size == (5, 5)
    assert isinstance(block.conv_pwl[2], torch.nn.Identity)  # linear bottleneck
    down = InvertedResidual(24, 40, stride=2)
    assert not down.has_residual
    assert down(torch.randn(2, 24, 9, 9)).shape == (2, 40, 5, 5)


def test_expansion_one_skips_expand_conv():
    block = InvertedResidual(32, 16, exp_ratio=1, act="silu", se_chs=8, se_act="silu")
    assert isinstance(block.conv_pw, torch.nn.Identity)
    assert block.se.fc1.out_channels == 8
    assert block(torch.randn(1, 32, 8, 8)).shape == (1, 16, 8, 8)


def test_residual_is_identity_when_projection_is_zero():
    block = InvertedResidual(16, 16, exp_chs=64, act="hardswish", se_chs=16, se_gate="hardsigmoid",
                             drop_path=0.2).eval()
    torch.nn.init.zeros_(block.conv_pwl[1].weight)
    torch.nn.init.zeros_(block.conv_pwl[1].bias)
    x = torch.randn(3, 16, 7, 7)
    assert torch.equal(block(x), x)


def test_drop_path_drops_whole_samples():
    torch.manual_seed(0)
    block = InvertedResidual(8, 8, exp_ratio=2, drop_path=0.5).train()
    x = torch.randn(64, 8, 4, 4)
    same = (block(x) == x).flatten(1).all(1)
    assert 10 < int(same.sum()) < 54  # about half the samples skip the branch entirely
