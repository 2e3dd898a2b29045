"""EffNet v1/v2 blocks: the seed's formulas computed by hand, widths, separable pooling, odd sizes, ONNX."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from nivalis.layers.effnet_block import EffNetBlock, EffNetV2Block
from nivalis.profile import export_onnx


def _bn(x, bn):
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


def _randomise(block, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in block.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return block.eval()


def test_v1_matches_the_formula_written_out():
    block = _randomise(EffNetBlock(5, 16, depth_multiplier=2))
    x = torch.randn(2, 5, 12, 10)
    pw, dwh, dwv, out = (block.conv_pw, block.conv_dw_h, block.conv_dw_v, block.conv_out)
    h1 = F.relu(_bn(F.conv2d(x, pw[0].weight), pw[1]))                        # 1×1 to max(16/2, 6) = 8
    h2 = _bn(F.conv2d(h1, dwh[0].weight, padding=(0, 1), groups=8), dwh[1])   # dw 1×3, multiplier 2 → 16
    h2 = F.max_pool2d(h2, (1, 2))                                             # first half of the pooling
    h3 = _bn(F.conv2d(h2, dwv[0].weight, padding=(1, 0), groups=16), dwv[1])  # dw 3×1, linear
    y = F.relu(_bn(F.conv2d(h3, out[0].weight, stride=(2, 1)), out[1]))       # 2×1, stride 2 on the other axis
    assert block.mid_chs == 8 and dwh[0].out_channels == 16
    torch.testing.assert_close(block(x), y)
    assert y.shape == (2, 16, 6, 5)


def test_v1_bottleneck_has_a_floor_of_six_channels_and_exact_params():
    assert EffNetBlock(3, 8).mid_chs == 6 and EffNetBlock(3, 64).mid_chs == 32
    # 1×1 3→32, dw 1×3 and 3×1 on 32, 2×1 32→64, each followed by BN (2 parameters per channel)
    expected = 3 * 32 + 64 + 32 * 3 + 64 + 32 * 3 + 64 + 32 * 2 * 64 + 128
    assert sum(p.numel() for p in EffNetBlock(3, 64).parameters()) == expected


def test_v1_flops_follow_the_factorisation():
    block = EffNetBlock(64, 128).eval()
    with FlopCounterMode(display=False) as counter:
        block(torch.zeros(1, 64, 16, 16))
    macs = 64 * 64 * 256 + 64 * 3 * 256 + 64 * 3 * 128 + 64 * 2 * 128 * 64
    assert counter.get_total_flops() == 2 * macs


def test_v2_expansion_depth_multiplier_and_leaky_output():
    block = EffNetV2Block(12, 24, expansion=6)
    assert block.mid_chs == 36 and block.conv_dw_h[0].out_channels == 72  # ⌊12·6/2⌋, multiplier 2
    assert EffNetV2Block(7, 8, expansion=2).mid_chs == 7
    assert isinstance(block.conv_pwl[2], torch.nn.LeakyReLU)
    y = block.eval()(torch.randn(3, 12, 16, 16))
    assert y.shape == (3, 24, 8, 8) and (y < 0).any()  # leaky, not ReLU: negative outputs survive


def test_v2_separable_pooling_composes_to_2x2_max_pool():
    """With identity depthwise filters and BN, the two 1-D poolings are one 2×2 max-pool (§6.2)."""
    block = EffNetV2Block(4, 6, expansion=2, depth_multiplier=1).eval()
    with torch.no_grad():
        for conv in (block.conv_dw_h[0], block.conv_dw_v[0]):
            conv.weight.zero_()
            conv.weight[:, :, conv.kernel_size[0] // 2, conv.kernel_size[1] // 2] = 1.0
    x = torch.randn(2, 4, 8, 8)
    h1 = block.conv_pw(x)
    scale = lambda bn: (1 + bn.eps) ** -0.5  # noqa: E731  (BN at its initial statistics)
    pooled = F.max_pool2d(h1, 2) * scale(block.conv_dw_h[1]) * scale(block.conv_dw_v[1])
    torch.testing.assert_close(block(x), block.conv_pwl(pooled))


@pytest.mark.parametrize("cls", [EffNetBlock, EffNetV2Block])
def test_odd_sizes_and_no_downsampling(cls):
    x = torch.randn(1, 8, 7, 9)
    assert cls(8, 16)(x).shape == (1, 16, 3, 4)                   # like 2×2 max-pooling (floor)
    assert cls(8, 16, ceil_mode=True)(x).shape == (1, 16, 4, 5)   # like a padded stride-2 3×3 conv
    assert cls(8, 16, downsample=False)(x).shape == (1, 16, 7, 9)


def test_blocks_export_to_onnx(tmp_path):
    for block in (EffNetBlock(3, 16, ceil_mode=True), EffNetV2Block(3, 16, expansion=4)):
        result = export_onnx(block.eval(), (3, 11, 11), tmp_path / "block.onnx")
        assert result["max_abs_diff"] < 1e-4
